"""Type stubs of cr._native, the Rust bridge the `cr` package calls (JSON text in and out)."""

from typing import Callable, Optional

class NativeError(Exception):
    """A cr failure; ``args[0]`` is the failure document as JSON text."""

def plan(backend: str, params: Optional[str], files: list[str]) -> str: ...
def is_enabled(backend: str, params: Optional[str], files: list[str]) -> bool: ...
def reserve(
    backend: str,
    params: Optional[str],
    files: list[str],
    options_json: str,
    progress: Optional[Callable[[str], None]] = None,
) -> str: ...
def discover(backend: str, params: Optional[str], files: list[str], options_json: str) -> str: ...
def get_id(
    backend: str, zone: str, instance_type: str, params: Optional[str], files: list[str], options_json: str
) -> Optional[str]: ...
def instance_target(
    backend: str, zone: str, instance_type: str, params: Optional[str], files: list[str], options_json: str
) -> Optional[str]: ...
def cancel(
    backend: str,
    params: Optional[str],
    files: list[str],
    options_json: str,
    progress: Optional[Callable[[str], None]] = None,
) -> str: ...
def cancel_all_regions(
    backend: str,
    test_id: str,
    params: Optional[str],
    files: list[str],
    options_json: str,
    progress: Optional[Callable[[str], None]] = None,
) -> str: ...
def compiled_backends() -> list[str]: ...
