"""Fixtures: an emulator of the four clouds (`cr emulator`, started per test with its own
scenario) and the options that point the package at it. Nothing reaches a real cloud."""

import json
import os
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def cr_binary() -> str:
    """The `cr` binary that serves the emulator: CR_BIN, else the workspace's debug build."""
    path = os.environ.get("CR_BIN") or str(ROOT / "target" / "debug" / "cr")
    if not os.path.exists(path):
        pytest.fail(f"no cr binary at {path}: build it (cargo build -p cr-cli) or set CR_BIN")
    return path


def load_env_sh(path: str) -> dict:
    env = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


class Emulator:
    def __init__(self, tmp: Path, scenario: dict):
        creds = tmp / "creds"
        scenario_file = tmp / "scenario.json"
        scenario_file.write_text(json.dumps(scenario))
        self.process = subprocess.Popen(
            [cr_binary(), "emulator", "--port", "0", "--tls-port", "0", "--output", "json",
             "--scenario", str(scenario_file), "--write-credentials", str(creds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"cr emulator did not start (exit {self.process.wait()})")
        started = json.loads(line)
        self.http = started["http"]
        self.env = load_env_sh(started["env_sh"])
        # What every call takes to reach the emulator instead of a cloud.
        self.options = {
            "endpoint": started["https"],
            "ca_bundle": started["ca_bundle"],
            "env": self.env,
        }

    def state(self) -> dict:
        with urllib.request.urlopen(self.http + "/_emulator/state") as r:
            return json.load(r)

    def live(self, cloud: str) -> list:
        return [
            r for r in self.state()["reservations"]
            if r["cloud"] == cloud and r["state"] not in ("cancelled", "deleted", "expired", "failed")
        ]

    def made(self, cloud: str) -> list:
        return [r for r in self.state()["reservations"] if r["cloud"] == cloud]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def emulator(tmp_path, request):
    """An emulator with the scenario of the test's `scenario` marker (default: well stocked)."""
    marker = request.node.get_closest_marker("scenario")
    emu = Emulator(tmp_path, marker.args[0] if marker else {})
    yield emu
    emu.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "scenario(dict): the emulator scenario of the test")


@pytest.fixture
def python_child():
    """Runs Python code in a fresh interpreter (another process than the test's)."""

    def run(code: str, **kwargs):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **kwargs)

    return run
