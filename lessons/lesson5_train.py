"""Lesson 5 (the notebook's Cell 5): train the U-Net.

Article sections: the last paragraph on Cell 4 (Adam, its learning rate, the Dice
loss, the metric; epochs and batches) and Cell 5 with Figure 3 (training and
validation Dice loss per epoch; where they part, overfitting begins).

``model.fit`` prints one Keras-like line per epoch, validates after each, and
keeps the weights of the lowest validation loss in best.npz (the notebook's
ModelCheckpoint with save_best_only).  The history goes to history.json and
history.csv, and Figure 3 is drawn from it.

A run folder that holds a finished training (best.npz and history.json) is not
trained again unless ``--overwrite`` (start afresh, replacing it) or ``--resume``
(continue from the state fit keeps beside best.npz, best.resume.npz, up to the
run's or ``--epochs``' epoch count).  ``--lr``, ``--epochs`` and ``--batch-size``
choose this training's settings (training.json records them); the network's flags
are the run folder's (config.json).  ``--cuda-graph`` (GPU only) runs each step as one
CUDA graph: the same training in fewer launches (``fit(..., cuda_graph=True)``).

    python lessons/lesson5_train.py [--config ...] [--out DIR] [--epochs N] [--lr X] [--batch-size N]
                                    [--resume | --overwrite] [--cuda-graph]
"""

import time

from tinyunet import backend, lessons, plots
from tinyunet.models import UNet
from tinyunet.optimizers import Adam

parser = lessons.argument_parser("Lesson 5: train the U-Net")
again = parser.add_mutually_exclusive_group()
again.add_argument("--resume", action="store_true", help="continue an interrupted training in this run folder")
again.add_argument("--overwrite", action="store_true", help="train afresh, replacing a finished training")
parser.add_argument("--cuda-graph", action="store_true",
                    help="on the GPU: each training step as one CUDA graph (the same training, fewer launches)")
run = lessons.start(__file__, 5, "Train the U-Net", "Cells 4-5 and Figure 3", parser=parser, trains=True)
config = run.config
if run.args.cuda_graph and backend.device != "gpu":
    raise SystemExit(f"--cuda-graph needs the GPU (TINYUNET_DEVICE=gpu and CuPy); this run trains on "
                     f"{backend.device_name()}")
if run.exists("best.npz") and run.exists("history.json") and not (run.args.resume or run.args.overwrite):
    raise SystemExit(f"{run.folder} already holds a finished training (best.npz, history.json): pass --resume "
                     "to continue it, --overwrite to replace it, or choose another --out")

splits, source = lessons.load_data(run)
train, validation = splits.train, splits.validation
run.output("best.resume.npz")     # fit keeps the state to resume from beside best.npz
classes = train.masks.shape[-1]
model = UNet(config.preset, input_shape=train.images.shape[1:], seed=config.seed,
             **config.unet_options(classes))
kind = "sigmoid, one channel" if classes == 1 else f"softmax over {classes} classes"
print(f"U-Net '{config.preset}', {model.count_params():,} parameters, {kind}; data: {source}")
print(f"Adam(learning_rate={config.learning_rate:g}), Dice loss, {config.epochs} epochs, "
      f"batch {config.batch_size}\n")
# The article says Adam "will adjust [the learning rate] based on the improvement in the loss".
# It does not look at the loss: for every weight it keeps running averages of that weight's
# gradient, m = beta_1 m + (1 - beta_1) g, and squared gradient, v = beta_2 v + (1 - beta_2) g^2,
# and steps by learning_rate * m_hat / (sqrt(v_hat) + epsilon) (the hats undo the zero start).
# So each weight's step is scaled by its own gradient history, about learning_rate at most,
# while learning_rate itself stays what we give it.
optimizer = Adam(learning_rate=config.learning_rate)

started = time.perf_counter()
history = model.fit(train.images, train.masks, validation_data=(validation.images, validation.masks),
                    epochs=config.epochs, batch_size=config.batch_size, optimizer=optimizer, seed=config.seed,
                    checkpoint=run.output("best.npz"), verbose=2, resume=run.args.resume,
                    cuda_graph=run.args.cuda_graph)
seconds = time.perf_counter() - started

history.save_json(run.output("history.json"))
history.save_csv(run.output("history.csv"))
val_loss = history.history["val_loss"]
best = min(range(len(val_loss)), key=val_loss.__getitem__)
run.write_json("training.json", {"seconds": round(seconds, 1), "epochs": len(val_loss), "best_epoch": best + 1,
                                 "best_val_loss": val_loss[best], "learning_rate": config.learning_rate,
                                 "batch_size": config.batch_size, "device": backend.device_name(),
                                 "cuda_graph": run.args.cuda_graph})
plots.figure3_loss(history.history, title=f"Figure 3. Dice loss per epoch ({config.name} config)",
                   path=run.output("figure3_loss.png"))
print(f"\nTrained in {seconds:.0f} s; best epoch {best + 1} (val_loss {val_loss[best]:.4f}) -> {run.path('best.npz')}")
print(f"History -> {run.path('history.json')}, {run.path('history.csv')}; Figure 3 -> {run.path('figure3_loss.png')}")
