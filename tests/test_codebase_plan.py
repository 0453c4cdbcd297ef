"""The plan's codebase keys: the section and the sides load into the model, `rules_for` merges a
repository's overrides with the defaults as docs/reference/plan.md says, and each bad input is one
PlanError problem with its line and key. The invalid-plan goldens (tests/invalid_plans/5x-codebase-*)
show the full messages as the CLI prints them.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from migrator.codebase.resolve import DEFAULT_REFS, rules_for, side_location
from migrator.codebase.rules import Replacement, RepoRules
from migrator.errors import PlanError
from migrator.plan.codebase_model import parse_size
from migrator.plan.load import load_plan
from migrator.plan.model import Plan

HASH_A = "sha256:" + "a" * 64
HASH_B = "sha256:" + "0123456789abcdef" * 4

# SPEC §2's example, with credentials from variables on both sides.
SPEC_EXAMPLE = r"""
version: 1
name: codebase
source:
  codebase: https://git.global.example/acme
  git: {token: "${SRC_GIT_TOKEN}"}
target:
  codebase: https://git.us.example/acme-us
  git: {username: mirror-bot, password: "${DST_GIT_PASSWORD}"}
codebase:
  refs: {include: ["refs/heads/main", "refs/heads/release/*", "refs/tags/v*"]}
  paths: {exclude: ["region/eu/**", "**/*.env", "secrets/**"]}
  messages: {scrub: ['(?i)customer-id:\s*\S+']}
  secrets: refuse
  repositories:
    - {name: app}
    - {name: recsys-training, paths: {exclude: ["data/eu/**"]}}
    - {name: infra, target_name: infra-us}
"""
ENVIRON = {"SRC_GIT_TOKEN": "token-1", "DST_GIT_PASSWORD": "password-2"}

# Defaults and overrides of every kind, for the merge rule.
MERGED = r"""
version: 1
name: merged
source: {codebase: repos}
target: {codebase: out/repos}
codebase:
  refs: {include: ["refs/heads/main"], exclude: ["refs/heads/wip/*"]}
  paths: {exclude: ["region/eu/**"], include: ["src/**", "docs/**"]}
  replace:
    - {paths: ["config/*.yaml"], pattern: "eu-west-1", with: "us-east-1"}
  messages: {scrub: ['customer-id:\s*\S+']}
  submodules: drop
  lfs: pointers-only
  max_blob_size: 50MB
  large_blobs: drop
  on_source_rewrite: follow
  secrets: {action: redact, allow: ["HASH_A"]}
  repositories:
    - app
    - name: ml/training
      target_name: training-us
      refs: {include: ["refs/heads/*"], exclude: ["refs/heads/eu-*"]}
      paths: {exclude: ["data/eu/**"], include: []}
      replace:
        - {paths: ["**/*.py"], pattern: "EU_BUCKET", with: "US_BUCKET"}
      messages: {scrub: ['ticket-\d+']}
      submodules: keep
      lfs: fail
      max_blob_size: 1.5 GiB
      large_blobs: fail
      on_source_rewrite: fail
      secrets: {action: refuse, allow: ["HASH_B"]}
    - {name: infra, secrets: {allow: ["HASH_B"]}}
""".replace("HASH_A", HASH_A).replace("HASH_B", HASH_B)

MINIMAL = """\
version: 1
name: minimal
source: {codebase: repos}
target: {codebase: out/repos}
codebase:
  repositories:
    - {name: app}
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "plan.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Plan:
    return load_plan(write(folder, text), environ=environ or {}).plan


def problems_of(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PlanError) as caught:
        load_plan(write(folder, text), environ=environ or {})
    return [(p.line, p.key, p.message) for p in caught.value.problems]


# --- valid plans -----------------------------------------------------------------------------------


def test_the_specification_example_loads(tmp_path: Path) -> None:
    plan = load(tmp_path, SPEC_EXAMPLE, ENVIRON)
    assert plan.copies_codebase and not (plan.copies_tables or plan.copies_objects or plan.copies_flags)
    assert plan.source.codebase == "https://git.global.example/acme"
    assert plan.source.git is not None and plan.source.git.token == "token-1"
    assert plan.target.git is not None
    assert (plan.target.git.username, plan.target.git.password) == ("mirror-bot", "password-2")
    assert plan.codebase is not None
    assert [r.name for r in plan.codebase.repositories] == ["app", "recsys-training", "infra"]
    assert plan.codebase.secrets is not None and plan.codebase.secrets.action == "refuse"
    assert (plan.codebase.submodules, plan.codebase.lfs, plan.codebase.on_source_rewrite) == ("fail", "fail", "fail")


def test_a_plan_without_codebase_has_no_repository_rules(tmp_path: Path) -> None:
    text = "version: 1\nname: flags\nsource: {flags: a.json}\ntarget: {flags: b.json}\nflags: {}\n"
    plan = load(tmp_path, text)
    assert not plan.copies_codebase
    assert rules_for(plan) == []


def test_a_repository_without_overrides_gets_the_built_in_defaults(tmp_path: Path) -> None:
    (rules,) = rules_for(load(tmp_path, MINIMAL))
    assert rules == RepoRules(name="app", target_name="app")
    assert rules.refs_include == DEFAULT_REFS
    assert (rules.submodules, rules.lfs, rules.large_blobs, rules.secrets) == ("fail", "fail", "fail", "refuse")
    assert rules.max_blob_size is None and rules.paths_include == ()


def test_rules_for_merges_overrides_with_the_defaults_as_documented(tmp_path: Path) -> None:
    app, training, infra = rules_for(load(tmp_path, MERGED))
    eu_west = Replacement(paths=("config/*.yaml",), pattern="eu-west-1", replacement="us-east-1")
    # A repository that gives nothing takes every default as it is.
    assert app == RepoRules(
        name="app",
        target_name="app",
        refs_include=("refs/heads/main",),
        refs_exclude=("refs/heads/wip/*",),
        paths_exclude=("region/eu/**",),
        paths_include=("src/**", "docs/**"),
        replacements=(eu_west,),
        message_scrub=(r"customer-id:\s*\S+",),
        submodules="drop",
        lfs="pointers-only",
        max_blob_size=50_000_000,
        large_blobs="drop",
        on_source_rewrite="follow",
        secrets="redact",
        secrets_allow=frozenset({HASH_A}),
    )
    # Exclusions, scrubs, replacements and allowed hashes add up; every other key is replaced;
    # an empty include given by the repository is given (it replaces the default's list).
    assert training == RepoRules(
        name="ml/training",
        target_name="training-us",
        refs_include=("refs/heads/*",),
        refs_exclude=("refs/heads/wip/*", "refs/heads/eu-*"),
        paths_exclude=("region/eu/**", "data/eu/**"),
        paths_include=(),
        replacements=(eu_west, Replacement(paths=("**/*.py",), pattern="EU_BUCKET", replacement="US_BUCKET")),
        message_scrub=(r"customer-id:\s*\S+", r"ticket-\d+"),
        submodules="keep",
        lfs="fail",
        max_blob_size=1_610_612_736,
        large_blobs="fail",
        on_source_rewrite="fail",
        secrets="refuse",
        secrets_allow=frozenset({HASH_A, HASH_B}),
    )
    # `secrets: {allow: [...]}` without an action keeps the default's action.
    assert dataclasses.replace(infra, secrets_allow=frozenset({HASH_A})) == dataclasses.replace(
        app, name="infra", target_name="infra"
    )
    assert infra.secrets == "redact" and infra.secrets_allow == {HASH_A, HASH_B}


def test_a_pattern_given_at_both_levels_is_kept_once(tmp_path: Path) -> None:
    text = MINIMAL.replace("codebase:\n", 'codebase:\n  paths: {exclude: ["secrets/**"]}\n').replace(
        "- {name: app}", '- {name: app, paths: {exclude: ["secrets/**", "eu/**"]}}'
    )
    (rules,) = rules_for(load(tmp_path, text))
    assert rules.paths_exclude == ("secrets/**", "eu/**")


def test_secrets_shorthand_is_the_action(tmp_path: Path) -> None:
    text = MINIMAL.replace("codebase:\n", "codebase:\n  secrets: redact\n").replace(
        "- {name: app}", "- {name: app}\n    - {name: lib, secrets: refuse}"
    )
    app, lib = rules_for(load(tmp_path, text))
    assert (app.secrets, lib.secrets) == ("redact", "refuse")
    assert app.secrets_allow == lib.secrets_allow == frozenset()


# --- digests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "shapes_history"),
    [
        (("codebase:\n", 'codebase:\n  paths: {exclude: ["eu/**"]}\n'), True),
        (("codebase:\n", 'codebase:\n  paths: {include: ["src/**"]}\n'), True),
        (("codebase:\n", 'codebase:\n  refs: {exclude: ["refs/heads/wip/*"]}\n'), False),
        (("codebase:\n", "codebase:\n  messages: {scrub: ['ACME-\\d+']}\n"), True),
        (("codebase:\n", 'codebase:\n  replace: [{paths: ["*.cfg"], pattern: "eu", with: "us"}]\n'), True),
        (("codebase:\n", "codebase:\n  max_blob_size: 1MiB\n"), False),
        (("codebase:\n", "codebase:\n  max_blob_size: 1MiB\n  large_blobs: drop\n"), True),
        (("codebase:\n", "codebase:\n  submodules: drop\n"), True),
        (("codebase:\n", "codebase:\n  secrets: redact\n"), True),
        (("codebase:\n", f'codebase:\n  secrets: {{action: redact, allow: ["{HASH_A}"]}}\n'), True),
        # Which refs are mirrored, what only refuses (an allowlist under `refuse`, a size limit under
        # `large_blobs: fail`), what to do on a force-push, and the names do not change the commits.
        (("codebase:\n", f'codebase:\n  secrets: {{allow: ["{HASH_A}"]}}\n'), False),
        (("codebase:\n", "codebase:\n  on_source_rewrite: follow\n"), False),
        (("- {name: app}", "- {name: app, target_name: app-us}"), False),
    ],
    ids=lambda v: v[1].strip().replace("\n", " ")[:40] if isinstance(v, tuple) else str(v),
)
def test_the_digest_changes_with_every_rule_that_shapes_the_history(
    tmp_path: Path, change: tuple[str, str], shapes_history: bool
) -> None:
    assert change[0] in MINIMAL
    (before,) = rules_for(load(tmp_path, MINIMAL))
    (after,) = rules_for(load(tmp_path, MINIMAL.replace(*change)))
    assert after != before
    assert (after.digest() != before.digest()) is shapes_history


# --- sizes and locations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "size"),
    [
        (1024, 1024),
        ("1024", 1024),
        ("7B", 7),
        ("50MB", 50_000_000),
        ("3 kb", 3_000),
        ("2 GB", 2_000_000_000),
        ("10KiB", 10_240),
        ("1.5 GiB", 1_610_612_736),
        ("0.5MiB", 524_288),
    ],
)
def test_sizes_are_decimal_or_binary_units(given: object, size: int) -> None:
    assert parse_size(given) == size


@pytest.mark.parametrize("given", [0, -1, True, 1.5, "", "50 megs", "MB", "1e6", "0.1B"])
def test_a_size_that_is_not_one_is_refused(given: object) -> None:
    with pytest.raises(ValueError, match="must be a number of bytes or a size such as 50MB"):
        parse_size(given)


def test_a_folder_codebase_is_relative_to_the_plan_file(tmp_path: Path) -> None:
    plan_dir = tmp_path / "plans"
    assert side_location("repos", plan_dir) == str((plan_dir / "repos").resolve())
    assert side_location("../mirror", plan_dir) == str((tmp_path / "mirror").resolve())
    assert side_location("/srv/git", plan_dir) == "/srv/git"
    assert side_location("file:///srv/git%20repos", plan_dir) == "/srv/git repos"
    assert side_location("ssh://git@host/acme", plan_dir) == "ssh://git@host/acme"


@pytest.mark.parametrize(
    "location",
    [
        "https://git.example/acme",
        "http://127.0.0.1:8080/git",
        "git://127.0.0.1/acme",
        "ssh://git@host:2222/acme",
        "file:///srv/git",
        "repos",
        "../repos",
        "/srv/git",
    ],
)
def test_every_kind_of_location_is_accepted(tmp_path: Path, location: str) -> None:
    text = MINIMAL.replace("source: {codebase: repos}", f"source: {{codebase: '{location}'}}")
    assert load(tmp_path, text).source.codebase == location


# --- credentials ----------------------------------------------------------------------------------------


def test_credentials_from_variables_are_accepted(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "source: {codebase: repos}",
        'source: {codebase: "https://git.example/acme", git: {username: bot, password: "${PW}"}}',
    )
    git = load(tmp_path, text, {"PW": "hunter2"}).source.git
    assert git is not None and (git.username, git.password, git.token) == ("bot", "hunter2", None)


@pytest.mark.parametrize("written", ["hunter2", "pre-${PW}", "${PW}${PW}"])
def test_a_password_written_in_the_plan_is_refused(tmp_path: Path, written: str) -> None:
    text = MINIMAL.replace(
        "source: {codebase: repos}",
        f'source:\n  codebase: "https://git.example/acme"\n  git: {{username: bot, password: "{written}"}}',
    )
    assert problems_of(tmp_path, text, {"PW": "x"}) == [
        (5, "source.git.password", "must come from an environment variable, not be written in the plan")
    ]


# --- bad inputs: one problem each, with its line and key -----------------------------------------------


BAD = [
    (
        "codebase:\n",
        'codebase:\n  paths: {exclude: ["region/[eu"]}\n',
        6,
        "codebase.paths.exclude[0]",
        "has a '[' at column 8 without its ']'",
    ),
    ("codebase:\n", 'codebase:\n  paths: {include: [""]}\n', 6, "codebase.paths.include[0]", "is empty"),
    (
        "codebase:\n",
        'codebase:\n  paths: {exclude: ["a\\u0000b"]}\n',
        6,
        "codebase.paths.exclude[0]",
        "holds a NUL character",
    ),
    (
        "codebase:\n",
        'codebase:\n  refs: {exclude: ["wip/*"]}\n',
        6,
        "codebase.refs.exclude[0]",
        "does not match full ref names",
    ),
    (
        "codebase:\n",
        "codebase:\n  messages: {scrub: ['a(b']}\n",
        6,
        "codebase.messages.scrub[0]",
        "is not a valid regular expression: missing ), unterminated subpattern at position 1",
    ),
    (
        "codebase:\n",
        "codebase:\n  messages: {scrub: ['\\N{DIGIT ONE}']}\n",
        6,
        "codebase.messages.scrub[0]",
        "is not a valid regular expression: bad escape \\N at position 0",
    ),
    (
        "codebase:\n",
        "codebase:\n  replace: [{paths: ['*.cfg'], pattern: '[a-', with: x}]\n",
        6,
        "codebase.replace[0].pattern",
        "is not a valid regular expression: unterminated character set at position 0",
    ),
    (
        "codebase:\n",
        "codebase:\n  replace: [{paths: ['*.cfg'], pattern: '(x)?', with: x}]\n",
        6,
        "codebase.replace[0].pattern",
        "matches the empty string",
    ),
    (
        "codebase:\n",
        "codebase:\n  replace: [{paths: ['[*.cfg'], pattern: 'x', with: x}]\n",
        6,
        "codebase.replace[0].paths[0]",
        "has a '[' at column 1 without its ']'",
    ),
    (
        "codebase:\n",
        "codebase:\n  replace: [{paths: ['*.cfg'], pattern: 'x'}]\n",
        6,
        "codebase.replace[0].with",
        "is required",
    ),
    (
        "codebase:\n",
        "codebase:\n  secrets: {allow: ['sha256:ABC']}\n",
        6,
        "codebase.secrets.allow[0]",
        "must be 'sha256:' and 64 lower-case hex digits, got 'sha256:ABC'",
    ),
    (
        "codebase:\n",
        "codebase:\n  secrets: redcat\n",
        6,
        "codebase.secrets",
        "must be one of refuse | redact or a mapping (action, allow), got 'redcat'",
    ),
    (
        "codebase:\n",
        "codebase:\n  lfs: pointers\n",
        6,
        "codebase.lfs",
        "must be one of fail | pointers-only, got 'pointers'",
    ),
    (
        "codebase:\n",
        "codebase:\n  max_blob_size: -5\n",
        6,
        "codebase.max_blob_size",
        "must be a number of bytes or a size such as 50MB or 1.5GiB, got -5",
    ),
    ("codebase:\n", "codebase:\n  pths: {}\n", 6, "codebase.pths", "unknown key"),
    (
        "- {name: app}",
        "- {name: app}\n    - {name: app}",
        8,
        "codebase.repositories[1].name",
        "repository app is listed twice",
    ),
    (
        "- {name: app}",
        "- {name: app}\n    - {name: lib, target_name: app}",
        8,
        "codebase.repositories[1].target_name",
        "target app is also the target of repository app",
    ),
    (
        "- {name: app}",
        "- {name: a/../../b}",
        7,
        "codebase.repositories[0].name",
        "must not climb out of source.codebase with '..'",
    ),
    (
        "- {name: app}",
        "- {name: /app}",
        7,
        "codebase.repositories[0].name",
        "must be a relative path, not an absolute one",
    ),
    (
        "- {name: app}",
        "- {name: 'app/'}",
        7,
        "codebase.repositories[0].name",
        "must be path segments of letters, digits, '.', '_' and '-', separated by '/', got 'app/'",
    ),
    ("- {name: app}", "- {target_name: app}", 7, "codebase.repositories[0].name", "is required"),
    ("- {name: app}", "- {name: app, refs: {includ: []}}", 7, "codebase.repositories[0].refs.includ", "unknown key"),
    (
        "- {name: app}",
        "- {name: app, refs: {include: []}}",
        7,
        "codebase.repositories[0].refs.include",
        "selects no ref",
    ),
    ("    - {name: app}\n", "    []\n", 6, "codebase.repositories", "must have at least 1 entry"),
    (
        "source: {codebase: repos}",
        "source: {codebase: 'https://u:pw@git.example/acme'}",
        3,
        "source.codebase",
        "holds a password, and URLs are printed",
    ),
    (
        "source: {codebase: repos}",
        "source: {codebase: 'git@git.example:acme'}",
        3,
        "source.codebase",
        "is not a base URL",
    ),
    (
        "source: {codebase: repos}",
        "source: {codebase: 'svn://host/acme'}",
        3,
        "source.codebase",
        "is not a git location: svn:// is not supported",
    ),
    ("source: {codebase: repos}", "source: {codebase: 'https:///acme'}", 3, "source.codebase", "names no host"),
    (
        "source: {codebase: repos}",
        "source: {codebase: 'file://host/acme'}",
        3,
        "source.codebase",
        "is not a local path",
    ),
    ("source: {codebase: repos}", "source: {codebase: ''}", 3, "source.codebase", "is empty"),
    ("target: {codebase: out/repos}", "target: {codebase: ./repos/}", 4, "target.codebase", "is the source's codebase"),
    ("target: {codebase: out/repos}", "target: {}", 4, "target", "codebase is required"),
    (
        "source: {codebase: repos}",
        "source: {codebase: repos, git: {token: '${T}', password: '${T}', username: u}}",
        3,
        "source.git",
        "give either password or token, not both",
    ),
    (
        "source: {codebase: repos}",
        "source: {codebase: repos, git: {password: '${T}'}}",
        3,
        "source.git",
        "a password goes with a username: give both",
    ),
    (
        "source: {codebase: repos}",
        "source: {codebase: repos, git: {tokn: '${T}'}}",
        3,
        "source.git.tokn",
        "unknown key",
    ),
]


@pytest.mark.parametrize(("old", "new", "line", "key", "message"), BAD, ids=[b[3] + ":" + b[4][:30] for b in BAD])
def test_each_bad_input_is_one_problem_with_its_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, message: str
) -> None:
    assert old in MINIMAL
    assert problems_of(tmp_path, MINIMAL.replace(old, new), {"T": "t"}) == [(line, key, message)]


def test_unknown_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    text = MINIMAL.replace("- {name: app}", "- {name: app, trget_name: x, secrets: {alow: []}, messages: {scrubs: []}}")
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, text), environ={})
    hints = {p.key: p.hint for p in caught.value.problems}
    assert hints == {
        "codebase.repositories[0].trget_name": "did you mean 'target_name'?",
        "codebase.repositories[0].secrets.alow": "did you mean 'allow'?",
        "codebase.repositories[0].messages.scrubs": "did you mean 'scrub'?",
    }


def test_the_sides_without_a_section_and_a_section_without_the_sides(tmp_path: Path) -> None:
    sides_only = "version: 1\nname: x\nsource: {codebase: repos}\ntarget: {codebase: out}\n"
    assert problems_of(tmp_path, sides_only) == [
        (3, "source.codebase", "repositories are named but the plan has no codebase section to say which to mirror")
    ]
    section_only = "version: 1\nname: x\nsource: {}\ntarget: {}\ncodebase: {repositories: [app]}\n"
    assert problems_of(tmp_path, section_only) == [
        (3, "source", "codebase is required"),
        (4, "target", "codebase is required"),
    ]


def test_git_credentials_in_a_plan_without_codebase_are_refused(tmp_path: Path) -> None:
    text = "version: 1\nname: x\nsource: {flags: a.json, git: {username: u}}\ntarget: {flags: b.json}\nflags: {}\n"
    assert problems_of(tmp_path, text) == [
        (3, "source.git", "is for the codebase, but the plan mirrors no repositories")
    ]


@pytest.mark.parametrize("pattern", ["[[:alpha:]]*.py", "[!]]x", "[]]", "a\\[b", "**/*.env", "region/eu/", "[a-z]?"])
def test_well_formed_path_patterns_pass(tmp_path: Path, pattern: str) -> None:
    text = MINIMAL.replace("codebase:\n", f"codebase:\n  paths: {{exclude: [{json.dumps(pattern)}]}}\n")
    (rules,) = rules_for(load(tmp_path, text))
    assert rules.paths_exclude == (pattern,)


# --- the CLI and the JSON Schema -------------------------------------------------------------------------


def test_validate_accepts_a_plan_that_only_mirrors_repositories(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, SPEC_EXAMPLE)
    result = run_cli("validate", path, env=ENVIRON)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "token-1" not in result.stdout + result.stderr and "password-2" not in result.stdout + result.stderr


def test_the_json_schema_describes_the_codebase_keys() -> None:
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    definitions = schema["$defs"]
    assert "codebase" in schema["properties"]
    assert {"codebase", "git"} <= set(definitions["SourceSide"]["properties"]) & set(
        definitions["TargetSide"]["properties"]
    )
    section = definitions["CodebaseSection"]
    assert section["additionalProperties"] is False
    assert section["properties"]["repositories"]["minItems"] == 1
    keys = {
        "refs",
        "paths",
        "replace",
        "messages",
        "submodules",
        "lfs",
        "max_blob_size",
        "large_blobs",
        "on_source_rewrite",
        "secrets",
    }
    assert keys | {"repositories"} == set(section["properties"])
    assert keys | {"name", "target_name"} == set(definitions["Repository"]["properties"])
    assert set(definitions["Replace"]["properties"]) == {"paths", "pattern", "with"}
    assert set(definitions["GitSettings"]["properties"]) == {"username", "password", "token"}
