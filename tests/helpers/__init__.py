"""Code the test modules share (a package, so no test edits ``sys.path`` or imports another test module)."""
