"""The fenced code blocks of README.md and docs/*.md, classified the way docs/testing.md
("Docs examples") describes: run as pasted, marked with what they need, or not a command.

A block's fence language says what it is. Commands and code (`bash`, `sh`, `console`,
`python`) run against the README's server unless their first line is a marker:
`# needs: WHAT` (WHAT is missing here: a provider, a GPU, PostgreSQL, podman...) or
`# starts: WHAT` (it starts a long-running process, such as the server itself). Everything
else (`json`, `text`, `toml`...) is a sample or a setting, never run. A block without a
language, or with one not listed here, is an error: nothing is left to guess."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

#: Languages of commands and code: run, unless marked.
SHELL = frozenset({"bash", "sh", "console"})
CODE = SHELL | {"python"}
#: Languages of what is read, not run: responses, logs, diagrams, settings, queries.
NOT_COMMANDS = frozenset({"json", "text", "yaml", "toml", "ini", "dotenv", "promql"})

NEEDS = "# needs: "
STARTS = "# starts: "

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
#: Words that end a command in a shell line (openkling's arguments stop before them).
_OPERATORS = frozenset({"|", "||", "&", "&&", ";", "(", ")", ">", ">>", "<"})


def docs() -> list[Path]:
    """Every document whose examples are accounted for."""
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    doc: Path
    index: int  # the block's number in its document, from 0
    line: int  # the line of its opening fence, from 1
    lang: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def kind(self) -> str:
        """"run", "needs", "starts" or "output"; "unknown" is a block the test refuses."""
        if self.lang in NOT_COMMANDS:
            return "output"
        if self.lang not in CODE:
            return "unknown"
        if self.first_line.startswith(NEEDS):
            return "needs"
        if self.first_line.startswith(STARTS):
            return "starts"
        return "run"

    @property
    def reason(self) -> str:
        """What a marked block's marker names ('' when it names nothing)."""
        return self.first_line.split(":", 1)[1].strip() if self.kind in ("needs", "starts") \
            else ""

    def where(self) -> str:
        doc = self.doc.relative_to(ROOT) if self.doc.is_relative_to(ROOT) else self.doc
        return f"{doc} block {self.index} (line {self.line}): {self.first_line!r}"

    def shell_script(self) -> str:
        """The commands as pasted: a `console` block's `$ ` lines (and their continuation
        lines), the rest being sample output; other shell blocks whole."""
        if self.lang != "console":
            return self.text
        commands: list[str] = []
        continued = False
        for line in self.text.splitlines():
            if continued:
                commands.append(line)
            elif line.startswith("$ "):
                commands.append(line[2:])
            else:
                continue
            continued = line.endswith("\\")
        return "\n".join(commands)


def blocks(doc: Path) -> list[Block]:
    found: list[Block] = []
    lines = doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match:
            indent, fence, lang = match.groups()
            start, body = i, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i].removeprefix(indent))
                i += 1
            found.append(Block(doc, len(found), start + 1, lang.strip(), "\n".join(body)))
        i += 1
    return found


def all_blocks() -> list[Block]:
    return [block for doc in docs() for block in blocks(doc)]


def openkling_commands(block: Block) -> list[list[str]]:
    """The arguments of each `openkling` command a shell block runs (also through
    `docker compose exec api openkling ...`; not an image named openkling), for checking
    that they parse."""
    script = block.shell_script() if block.lang in SHELL else ""
    found: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words = list(lexer)
        for i, word in enumerate(words):
            command_word = i == 0 or words[i - 1] in _OPERATORS or (
                i >= 2 and words[i - 2] == "exec")  # `docker exec CONTAINER openkling`
            if command_word and (word == "openkling" or word.endswith("/openkling")):
                args = []
                for arg in words[i + 1:]:
                    if arg in _OPERATORS:
                        break
                    args.append(arg)
                found.append(args)
    return found


def run_session(runnable: list[Block], folder: Path, env: dict[str, str], *,
                timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the blocks in order as one session in `folder`, and fail naming the block that
    failed. Python blocks alone share one Python session (later ones use earlier ones'
    names); with shell blocks, each is pasted into the shell's `python -c`."""
    progress = folder.parent / f"{folder.name}.progress"
    if all(block.lang == "python" for block in runnable):
        script = "\n".join(f"open({str(progress)!r}, 'w').write('{i}')\n{block.text}\n"
                           for i, block in enumerate(runnable))
        command = [sys.executable, "-c", script]
    else:
        script = "\n".join(
            f"echo {i} > {shlex.quote(str(progress))}\n" + (
                f"python -c {shlex.quote(block.text)}" if block.lang == "python"
                else block.shell_script())
            for i, block in enumerate(runnable))
        command = ["bash", "-euo", "pipefail", "-c", script]
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                            timeout=timeout)
    done = int(progress.read_text()) if progress.exists() else 0
    if result.returncode != 0:
        pytest.fail(f"{runnable[done].where()} exited {result.returncode}\n"
                    f"{result.stdout}\n{result.stderr}")
    assert done == len(runnable) - 1, "a block stopped the session early"
    return result
