"""Lesson 2 (the notebook's Cell 2): load the data and split it.

Article section: Cell 2, "loads the data and prepares it for use" (82 TCIA
Pancreas-CT subjects, soft-tissue window, 8-bit, central 256 x 256 crop, split
into training, validation and test folders).  That data cannot be downloaded
here, so the default is tinyunet's CT-like phantom with a pancreas mask, split by
subject; ``--data DIR`` reads the notebook's folder layout instead
(trainimages/, trainmasks/, validationimages/, ..., testmasks/).

The splits are kept in the run folder (data.npz) for the later lessons.

    python lessons/lesson2_load_data.py [--config ...] [--out DIR] [--data DIR]
"""

from tinyunet import data, lessons

run = lessons.start(__file__, 2, "Load the data", "Cell 2 (load and split the data)")
config = run.config

if run.args.data:
    print(f"Reading the notebook's folder layout from {run.args.data}")
    splits, source = data.load_folders(run.args.data), f"folders:{run.args.data}"
else:
    print(f"Making the phantom: {config.n_subjects} subjects, {config.image_size} x {config.image_size}, "
          f"seed {config.seed}")
    splits = data.make_phantom(n_subjects=config.n_subjects, size=config.image_size, seed=config.seed,
                               slices_per_subject=config.slices_per_subject)
    source = "phantom"

for name, split in splits.items():
    subjects = sorted(set(split.subjects)) if split.subjects else []
    area = split.masks.mean(axis=(1, 2, 3)) * 100
    print(f"{name:<10} {len(split):>5} slices of {split.images.shape[1]} x {split.images.shape[2]}, "
          f"{len(subjects):>3} subjects, pancreas covers {area.mean():.1f}% of a slice on average "
          f"(min {area.min():.1f}%, max {area.max():.1f}%)")

lessons.save_data(run, splits, source)
print(f"\nSaved the splits to {run.path('data.npz')}")
