"""task=serve refuses a port it cannot listen on with one `error:` line before loading the model."""

from __future__ import annotations

import socket

import pytest

from tests.test_entrypoint import one_error_line, run_py


def test_port_out_of_range_is_one_line(tiny_checkpoint):
    line = one_error_line(run_py("task=serve", f"checkpoint={tiny_checkpoint}", "serve.port=99999"))
    assert line == "error: serve.port must be a port number in 1..65535, got 99999"


def test_port_in_use_names_it_and_suggests_another(tiny_checkpoint, tmp_path):
    pytest.importorskip("uvicorn", reason="the [app] extra (fastapi, uvicorn) is not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_py("task=serve", f"checkpoint={tiny_checkpoint}", f"serve.port={port}", "serve.device=cpu",
                      f"paths.data_dir={tmp_path / 'data'}")
    line = one_error_line(proc)
    assert line.startswith(f"error: port {port} on 127.0.0.1 is already in use"), line
    other = int(line.rsplit("serve.port=", 1)[1])
    assert other != port and 1 <= other <= 65535
