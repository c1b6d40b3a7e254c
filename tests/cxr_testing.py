"""Test helpers shared by all areas: repo paths and a subprocess runner for the real tools.

Kept out of ``conftest.py`` because several conftest modules exist and
pytest registers each as ``conftest``; importing helpers from there picks
whichever was loaded last.
"""
import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_tool(args, cwd=REPO_ROOT, env=None, timeout=600, check=True):
    """Run a repo tool with this interpreter; return CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT, osp.join(REPO_ROOT, 'tests', 'foundation')] +
        ([full_env['PYTHONPATH']] if full_env.get('PYTHONPATH') else []))
    full_env.setdefault('OMP_NUM_THREADS', '2')
    if env:
        full_env.update(env)
    cmd = [sys.executable, *args] if str(args[0]).endswith('.py') else list(args)
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'command failed ({proc.returncode}): {" ".join(map(str, cmd))}\n'
            f'--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}')
    return proc
