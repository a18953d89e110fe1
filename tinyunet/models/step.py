"""One training step, exactly what a reader can write by hand.

    p = model.forward(x); loss.forward(y, p); model.backward(loss.backward())
    optimizer.step(model.params, model.grads)

``fit`` runs it for every mini-batch, the bench times it, and graph_step.py captures it
as a CUDA graph.
"""


def train_step(model, loss, optimizer, x, y):
    """One training step; returns the loss as a 0-d device array (no host synchronisation)."""
    p = model.forward(x, check=False)
    value = loss.forward(y, p)
    # no gradient for the images: nothing learns from it (PyTorch's twin skips it too)
    model.backward(loss.backward(), input_gradient=False)
    optimizer.step(model.params, model.grads)
    return value
