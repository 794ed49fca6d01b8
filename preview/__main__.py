"""`python -m preview --stack dev`: the offline preview of one stack, no CLI, no cloud, no credentials.

Runs the real program under Pulumi's mock engine with `stacks/Pulumi.<stack>.yaml`, prints what would be
created, and writes plan.json, manifests and node user data under `<out>/<stack>/`.
Exit status: 0 written; 2 the stack name, the stack file or the configuration is invalid (nothing written, the
message names the file, line and column where there is one); 1 anything else. A run that fails removes the stack's
previous output, so `<out>/<stack>/` never shows a plan the current stack file no longer produces.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from preview import engine, writers

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m preview", description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--stack", default="dev", help="stack name: reads <stacks-dir>/Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build", help="output directory (default: build)")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--program", type=Path, default=REPO_ROOT / "__main__.py", help=argparse.SUPPRESS)
    parser.add_argument("--stacks-dir", type=Path, default=REPO_ROOT / "stacks", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from components.settings import stack_name_problem  # the program's own rule; imported late, it loads pulumi

    # The name first, before it becomes a path: `--stack ../x` must not read (or later write) outside the stacks
    # and output directories, and a name the cloud cannot take is refused here as the program would refuse it.
    refused = stack_name_problem(args.stack)
    if refused:
        print(f"error: stack name {refused[0]}\nhint: {refused[1]}", file=sys.stderr)
        return 2
    out_dir = args.out.resolve()
    # From here on the name is safe as a path: whatever fails, the previous output of this stack goes with it.
    try:
        status = _preview(args, out_dir)
    except BaseException:
        _remove_stale(out_dir, args.stack)
        raise
    if status != 0:
        _remove_stale(out_dir, args.stack)
    return status


def _remove_stale(out_dir: Path, stack: str) -> None:
    if writers.remove_output(out_dir, stack):
        print(f"note: removed {out_dir / stack}: it was the output of an earlier run, not of this stack file",
              file=sys.stderr)


def _preview(args: argparse.Namespace, out_dir: Path) -> int:
    stack_file = args.stacks_dir / f"Pulumi.{args.stack}.yaml"
    if not stack_file.is_file():
        print(f"error: no stack file {stack_file}\nhint: stacks are read from {args.stacks_dir}/Pulumi.<stack>.yaml; "
              f"choose one of: {', '.join(_stack_names(args.stacks_dir)) or '(none there)'}", file=sys.stderr)
        return 2
    try:
        config, secret_keys = engine.load_stack_config(stack_file)
    except engine.StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {stack_file}:1:1: cannot be read ({error.strerror})\nhint: check the file's permissions",
              file=sys.stderr)
        return 2
    try:
        recording = engine.run_program(args.program, stack=args.stack, config=config, secret_keys=secret_keys)
    except Exception as error:
        if not engine.is_config_error(error):
            raise
        print(config_error_text(args.stack, error), file=sys.stderr)
        return 2
    try:
        written = writers.write_outputs(recording, out_dir, args.stack)
    except writers.NotPreviewOutput as error:
        print(f"error: {error}\nhint: the preview replaces only folders it wrote itself", file=sys.stderr)
        return 2
    if not args.quiet:
        sys.stdout.write(writers.render_tree(recording))
        sys.stdout.write(writers.render_tuning(recording))
        sys.stdout.write(writers.render_summary(recording, written))
    return 0


def _stack_names(stacks_dir: Path) -> list[str]:
    try:
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))[:20]
    except OSError:
        return []


def config_error_text(stack: str, error: BaseException) -> str:
    """The program's own message (it lists every problem); the problems themselves if the message is empty."""
    message = str(error).strip()
    problems = [str(p) for p in getattr(error, "problems", [])]
    if not message:
        message = "\n".join(f"  - {p}" for p in problems)
    return f"error: stack {stack}: invalid configuration\n{message}"


if __name__ == "__main__":
    sys.exit(main())
