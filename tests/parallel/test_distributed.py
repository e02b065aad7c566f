"""``initialize_from_env``: environment parsing, and a real 2-process run on loopback."""

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from routerlab.parallel.distributed import DistributedEnv, initialize_from_env, read_env


def test_single_process_is_a_no_op():
    assert read_env({}) is None
    assert initialize_from_env({}) is None
    assert read_env({"JAX_NUM_PROCESSES": "1"}) is None


def test_reads_routerlab_then_jax_names():
    env = {"ROUTERLAB_COORDINATOR": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3",
           "JAX_COORDINATOR_ADDRESS": "ignored:1"}
    assert read_env(env) == DistributedEnv("10.0.0.1:1234", 4, 3, 300)


@pytest.mark.parametrize("env,match", [
    ({"JAX_NUM_PROCESSES": "2"}, "ROUTERLAB_COORDINATOR, ROUTERLAB_PROCESS_ID"),
    ({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"}, r"in \[0, 2\)"),
    ({"JAX_COORDINATOR_ADDRESS": "h", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}, "host:port"),
    ({"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"}, "invalid literal"),
])
def test_incomplete_or_bad_environment_is_refused(env, match):
    with pytest.raises(ValueError, match=match):
        read_env(env)


WORKER = textwrap.dedent("""
    import jax
    import numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    from routerlab.parallel.distributed import initialize_from_env
    initialize_from_env()
    mesh = jax.make_mesh((jax.device_count(),), ("i",), axis_types=(AxisType.Auto,))
    local = np.full((jax.local_device_count(),), jax.process_index() + 1.0, np.float32)
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("i")), local)
    psum = jax.shard_map(lambda s: jax.lax.psum(s, "i"), mesh=mesh, in_specs=P("i"), out_specs=P())
    total = jax.jit(psum)(x)
    print("RESULT", jax.process_index(), jax.process_count(), jax.device_count(),
          float(np.asarray(total.addressable_shards[0].data)[0]), flush=True)
    jax.distributed.shutdown()
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_psum_across_hosts_on_loopback():
    """Two CPU processes with 2 fake devices each form one 4-device job (gloo collectives):
    a psum over the global mesh sees both processes' data (1 + 1 + 2 + 2 = 6)."""
    port = _free_port()
    procs = []
    for i in range(2):
        env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
                   ROUTERLAB_COORDINATOR=f"127.0.0.1:{port}", ROUTERLAB_NUM_PROCESSES="2",
                   ROUTERLAB_PROCESS_ID=str(i), ROUTERLAB_INIT_TIMEOUT="60")
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=120)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    results = sorted(line.split()[1:] for out in outputs for line in out.splitlines() if line.startswith("RESULT"))
    assert results == [["0", "2", "4", "6.0"], ["1", "2", "4", "6.0"]], outputs
