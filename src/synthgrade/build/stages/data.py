"""Stage 1, data: write the split; every later stage reads the rows as written. The test rows stay untouched until evaluate."""

from __future__ import annotations

from synthgrade.build.grid import read_split_part
from synthgrade.build.inputs import write_split
from synthgrade.build.records import BuildState
from synthgrade.build.stage import Stage


class DataStage(Stage):
    name = "data"

    def run(self, state: BuildState) -> None:
        bd, out = self.data, self.layout.root
        self.announce(
            f"{len(bd.train):,} training, {len(bd.val):,} validation rows; test rows set aside: "
            + ", ".join(f"{name} {len(frame):,}" for name, frame in bd.tests.items())
            + f"; labels {', '.join(self.labels)}"
        )
        if not self.layout.split_manifest.exists():
            write_split(bd, self.layout, self.config)
        # Every stage (and every executor's worker) reads the same rows: the split files as written.
        bd.train, bd.val = read_split_part(out, "train", self.labels), read_split_part(out, "val", self.labels)
