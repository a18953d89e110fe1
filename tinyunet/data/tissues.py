"""The label values of a phantom slice: one per tissue, each given its own HU per subject in ``phantom``."""

(AIR, FAT, MUSCLE, LIVER, SPLEEN, CORTEX, MEDULLA, FLUID, GAS, WALL, FECES, PANCREAS,
 ARTERY, VEIN, BONE, MARROW, CSF, BILE, URINE) = range(19)
N_LABELS = 19
