"""Lesson 2 (the notebook's Cell 2): load the data and split it.

Article section: Cell 2, "loads the data and prepares it for use" (82 TCIA
Pancreas-CT subjects, soft-tissue window, 8-bit, central 256 x 256 crop, split
into training, validation and test folders).  That data cannot be downloaded
here, so the default is tinyunet's CT-like phantom with a pancreas mask, split by
subject; ``--organ liver`` (or spleen, kidneys) takes another of its organs, and
several names give one-hot masks with a background channel first, one class each
(the article's "try ... liver, spleen"). ``--data DIR`` reads the notebook's folder
layout instead (trainimages/, trainmasks/, validationimages/, ..., testmasks/).

The splits are kept in the run folder (data.npz) for the later lessons.

    python lessons/lesson2_load_data.py [--config ...] [--out DIR] [--data DIR] [--organ NAME ...]
"""

from tinyunet import data, lessons

run = lessons.start(__file__, 2, "Load the data", "Cell 2 (load and split the data)")
config = run.config

if run.args.data:
    print(f"Reading the notebook's folder layout from {run.args.data}")
    splits, source = data.load_folders(run.args.data), f"folders:{run.args.data}"
else:
    print(f"Making the phantom: {config.n_subjects} subjects, {config.image_size} x {config.image_size}, "
          f"seed {config.seed}, {' + '.join(config.organ)}")
    organ = {} if config.organ == ("pancreas",) else {"organ": config.phantom_organ()}
    splits = data.make_phantom(n_subjects=config.n_subjects, size=config.image_size, seed=config.seed,
                               slices_per_subject=config.slices_per_subject, **organ)
    source = "phantom"

names = splits.class_names
# with several classes channel 0 is the background: report the organs' channels
organs = list(enumerate(names))[1:] if len(names) > 1 else [(0, names[0])]
for name, split in splits.items():
    subjects = len(set(split.subjects)) if split.subjects else 0
    print(f"{name:<10} {len(split):>5} slices of {split.images.shape[1]} x {split.images.shape[2]}, "
          f"{subjects:>3} subject{'' if subjects == 1 else 's'}")
    for channel, organ_name in organs:
        area = split.masks[..., channel].mean(axis=(1, 2)) * 100
        print(f"{'':<16} {organ_name} covers {area.mean():.1f}% of a slice on average "
              f"(min {area.min():.1f}%, max {area.max():.1f}%)")

lessons.save_data(run, splits, source)
print(f"\nSaved the splits to {run.path('data.npz')}")
