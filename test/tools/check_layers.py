#!/usr/bin/env python3
"""Holds every #include "dir/file.h" of the tree to the layer direction.

usage: check_layers.py LAYERS_FILE SOURCE_DIR
       check_layers.py --self-test

LAYERS_FILE is written by CMake as the libraries are declared: one line per
folder, "folder library used-library...". A file in a folder may include the
headers of its own folder and of the folders whose libraries its library
uses, directly or through another (CMake passes PUBLIC links on). Any other
project header is a violation: an edge against the direction, or a folder
that is no library. System headers (<...>) and generated files included
without a folder are not checked. Exit status 1 lists every violation.
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(path):
    """Returns {folder: library} and {library: set of libraries it uses}."""
    folders, uses = {}, {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith('#'):
                continue
            folder, lib, deps = words[0], words[1], words[2:]
            folders[folder] = lib
            uses[lib] = set(deps)
    return folders, uses


def closure(uses, lib):
    seen, todo = set(), [lib]
    while todo:
        for dep in uses.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def check(layers_file, root):
    folders, uses = read_layers(layers_file)
    problems = []
    for folder, lib in sorted(folders.items()):
        allowed = closure(uses, lib) | {lib}
        path = os.path.join(root, folder)
        for name in sorted(os.listdir(path)):
            if not name.endswith(('.c', '.h')):
                continue
            src = os.path.join(folder, name)
            with open(os.path.join(root, src)) as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                if '/' not in inc:
                    continue  # a generated file beside the sources
                target = os.path.dirname(inc)
                line = text.count('\n', 0, m.start()) + 1
                if target not in folders:
                    problems.append(f'{src}:{line}: includes "{inc}": {target}/ is not a library folder')
                elif folders[target] not in allowed:
                    problems.append(f'{src}:{line}: includes "{inc}": {lib} may not use '
                                    f'{folders[target]} (it uses {", ".join(sorted(uses[lib])) or "nothing"})')
    return problems


def self_test():
    """The checker must catch an upward include and a folder that is no library."""
    with tempfile.TemporaryDirectory() as root:
        for d in ('low', 'mid', 'top', 'stray'):
            os.mkdir(os.path.join(root, d))
        layers = os.path.join(root, 'layers.txt')
        with open(layers, 'w') as f:
            f.write('# test\nlow l_low\nmid l_mid l_low\ntop l_top l_mid\n')

        def write(path, *incs):
            with open(os.path.join(root, path), 'w') as f:
                f.write(''.join(f'#include "{i}"\n' for i in incs))

        write('low/a.h', 'low/b.h')
        write('mid/m.c', 'mid/m.h', 'low/a.h', 'countries_table.inc')
        write('top/t.c', 'low/a.h', 'mid/m.h')  # through mid: allowed
        ok = check(layers, root)
        assert ok == [], ok
        write('low/a.h', 'low/b.h', 'mid/m.h')  # upwards
        write('mid/m.c', 'stray/s.h')
        bad = check(layers, root)
        assert len(bad) == 2, bad
        assert 'low/a.h:2' in bad[0] and 'l_low may not use l_mid' in bad[0], bad
        assert 'not a library folder' in bad[1], bad
    print('check_layers self-test: an upward include and a stray folder are caught')


def main(argv):
    if argv[1:] == ['--self-test']:
        self_test()
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(argv[1], argv[2])
    for p in problems:
        print(p)
    folders, _ = read_layers(argv[1])
    if problems:
        print(f'{len(problems)} includes against the layer direction')
        return 1
    print(f'{len(folders)} library folders: every #include follows the layer direction')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
