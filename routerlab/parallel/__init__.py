"""Scale-out on JAX's own sharding: meshes from config, expert parallelism (``all_to_all``
in ``shard_map``), data/FSDP parameter sharding of the toy LM, sharded checkpoints, sharded
vmapped sweeps, and multi-host initialisation. See ``docs/scaling.md``."""
