"""Knowledge bits stored per parameter: does an MoE store facts like a dense model of its total size?

Allen-Zhu & Li (ICLR 2025, "Physics of Language Models: Part 3.3, Knowledge Capacity Scaling
Laws") find ~2 bits of knowledge per parameter after 1000 exposures per fact (~1 after 100),
and MoE with 32 experts within ~1.3x of dense per *total* parameter. Here in miniature: the
knowledge domain alone (routerlab.models.knowledge: a fixed table of synthetic facts, 3-byte
names, 4 attributes, biographies with varied templates, every fact seen exactly `exposures`
times), arms dense, dense with a 4x FFN (capacity control) and top-1 MoE E=8 at dense's active
FLOPs (Switch control), each at its own learning rate chosen on validation (held-out
renderings) from lr_grid, weight decay 0. Bits stored (routerlab.models.knowledge.bits_stored:
sum over facts of log2|choices| - CE of the value bytes in bits, not clipped per fact) are read
on the test prompts; bits_per_param over non-embedding and over total parameters. Controls are
on bits stored, paired by seed; an unresolved one makes the verdict "underpowered: ...".

Command:
    routerlab run knowledge --scale quick
    routerlab run knowledge --scale smoke

Runtime: see the measured numbers below (shared 2-core machine).

Expected result: see below.

Feeds: the README's reproduction table (bits/param per arm); not yet a paper table.
"""

from routerlab.studies.lm import STUDIES, KnowledgeStudyConfig, at_scale

SCALES = ("smoke", "quick", "paper")
STUDY = STUDIES["knowledge"]
run, report, paper = STUDY.run, STUDY.report, STUDY.paper

# smoke: a plumbing check (the shared smoke sizes' seq_len 16 cannot hold a biography).
SMOKE = dict(seq_len=64, n_layers=1, entities=16, renderings=2, exposures=(4,), steps=8, batch_size=8, eval_every=8, num_seeds=2,
             moe_experts=(4,))
# paper: for one GPU (not run): the quick regime with a 2x larger table, both exposure levels, E=8 and E=32, 5 seeds.
PAPER = dict(d_model=32, n_layers=1, d_ff=32, seq_len=64, entities=512, renderings=4, exposures=(1000, 100),
             steps=16_000, batch_size=32, eval_every=4000, eval_batches=4, num_seeds=5, moe_experts=(8, 32))


def get_config(scale: str) -> KnowledgeStudyConfig:
    return at_scale(KnowledgeStudyConfig(), scale, smoke=SMOKE, paper=PAPER)
