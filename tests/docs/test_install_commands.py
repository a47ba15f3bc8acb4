"""Every `pip install` command in a code block of README.md, docs/*.md and packages/*/README.md resolves, from the
repository root, as written: `pip install --dry-run --ignore-installed` (nothing is installed, and what this
environment already has does not count). `--no-build-isolation` builds the local packages' metadata with this
environment's setuptools instead of a fresh build environment per package and command (3x faster; the build
requirements themselves are checked by tests/docs/test_wheels.py). Runs in `tox -e docs` (needs the package index).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / 'README.md', *(ROOT / 'docs').glob('*.md'), *(ROOT / 'packages').glob('*/README.md')])
SHELL_LANGUAGES = {'', 'bash', 'sh', 'shell', 'console', 'zsh'}
SEPARATORS = {'&&', '||', ';', '|'}


def _is_pip(words: list[str]) -> int | None:
    """Index of `install` if `words` is a pip install command (pip, pip3, .venv/bin/pip, python -m pip ...)."""
    if not words:
        return None
    name = words[0].rsplit('/', 1)[-1]
    if name in ('pip', 'pip3') and words[1:2] == ['install']:
        return 1
    if name.startswith('python') and words[1:4] == ['-m', 'pip', 'install']:
        return 3
    return None


def pip_install_commands(text: str) -> list[list[str]]:
    """The arguments after `install` of each pip install command in the shell code blocks of a markdown page."""
    found = []
    for token in MarkdownIt('commonmark').parse(text):
        if token.type not in ('fence', 'code_block'):
            continue
        language = token.info.split()[0] if token.info.split() else ''
        if language not in SHELL_LANGUAGES:
            continue
        for line in token.content.replace('\\\n', ' ').splitlines():
            if 'pip' not in line:  # an unlabelled block may hold any text (a file tree, an apostrophe...)
                continue
            lexer = shlex.shlex(line, posix=True, punctuation_chars=';&|')
            lexer.whitespace_split = True
            lexer.commenters = '#'
            try:
                words, command = list(lexer), []
            except ValueError as exc:  # unbalanced quotes: a broken command, unless the block is not shell
                if language:
                    raise ValueError(f'cannot read the shell line {line!r}: {exc}') from exc
                continue
            for word in [*words, ';']:
                if word in SEPARATORS:
                    start = _is_pip(command)
                    if start is not None:
                        found.append(command[start + 1:])
                    command = []
                else:
                    command.append(word)
    return found


COMMANDS = [
    (page.relative_to(ROOT).as_posix(), args) for page in PAGES for args in pip_install_commands(page.read_text())
]
UNIQUE = list({' '.join(args): (page, args) for page, args in COMMANDS}.values())


def test_the_pages_have_install_commands():
    assert len(PAGES) >= 6, PAGES
    assert len(UNIQUE) >= 8, UNIQUE


def test_extraction():
    text = ('```bash\npython3 -m venv .venv && .venv/bin/pip install \'./a[x]\' b  # note\n'
            'pip install -q c && python -m pip install "d==1.*"\n# pip install e\n```\n'
            '```python\n# pip install f\n```\n    pip install g\n\n```\nit\'s a tree\n```\n')
    assert pip_install_commands(text) == [['./a[x]', 'b'], ['-q', 'c'], ['d==1.*'], ['g']]


@pytest.mark.parametrize('page, args', UNIQUE, ids=[' '.join(args) for _, args in UNIQUE])
def test_install_command_resolves(page, args):
    command = [sys.executable, '-m', 'pip', 'install', '--dry-run', '--quiet', '--ignore-installed',
               '--no-build-isolation', '--disable-pip-version-check', *args]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f'{page}: pip install {shlex.join(args)}\n{out.stdout[-2000:]}{out.stderr[-4000:]}'
