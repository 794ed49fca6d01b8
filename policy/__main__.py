"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policy` (PulumiPolicy.yaml: runtime python)."""

import functools
import sys
from pathlib import Path

# The rules read the program's own settings parser and kernel catalogue: the repository root must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy import pack

PolicyPack(name=pack.PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY,
           policies=pack.policies(functools.cache(pack.cli_facts)))
