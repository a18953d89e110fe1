"""Optimizers: Adam against its closed form and a plain-loop reference, SGD momentum, state."""

import io
import math

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import to_numpy, xp_settings
from strategies import seeds
from tinyunet import backend
from tinyunet.optimizers import SGD, Adam, adam_update


def make_params(seed=0, dtype="float32"):
    rng = numpy.random.default_rng(seed)
    return {"conv2d_1/kernel": backend.to_device(rng.standard_normal((3, 3, 1, 2)), dtype),
            "conv2d_1/bias": backend.to_device(rng.standard_normal(2), dtype)}


def make_grads(params, seed):
    rng = numpy.random.default_rng(seed)
    return {key: backend.to_device(rng.standard_normal(p.shape), p.dtype) for key, p in params.items()}


def adam_reference(theta, gradients, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Kingma & Ba's Algorithm 1, one scalar at a time, in Python floats."""
    m = v = 0.0
    for t, g in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        m_hat, v_hat = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)
        theta = theta - lr * m_hat / (math.sqrt(v_hat) + epsilon)
    return theta


def test_adam_first_step_is_learning_rate_times_sign(xp):
    # closed form at t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps)
    params = make_params(dtype="float64")
    before = {k: to_numpy(p).copy() for k, p in params.items()}
    grads = make_grads(params, 1)
    Adam(learning_rate=0.01).step(params, grads)
    for key in params:
        g = to_numpy(grads[key])
        expected = before[key] - 0.01 * g / (numpy.abs(g) + 1e-7)
        numpy.testing.assert_allclose(to_numpy(params[key]), expected, rtol=1e-12)


def test_adam_constant_gradient_moves_learning_rate_per_step(xp):
    # with a constant gradient m_hat = g and v_hat = g^2 at every t: each step is lr * sign(g)
    params = {"w": xp.zeros(4)}
    g = xp.asarray([2.0, -3.0, 0.5, -1e-3])
    opt = Adam(learning_rate=0.1, epsilon=0.0)
    for _ in range(5):
        opt.step(params, {"w": g})
    numpy.testing.assert_allclose(to_numpy(params["w"]), -0.5 * numpy.sign(to_numpy(g)), rtol=1e-12)


def test_adam_matches_the_plain_loop_reference(xp):
    params = make_params(dtype="float64")
    start = {k: to_numpy(p).copy() for k, p in params.items()}
    gradient_sequence = [make_grads(params, seed) for seed in range(1, 8)]
    opt = Adam(learning_rate=0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    for grads in gradient_sequence:
        opt.step(params, grads)
    for key, param in params.items():
        for index in numpy.ndindex(param.shape):
            gs = [float(to_numpy(grads[key])[index]) for grads in gradient_sequence]
            expected = adam_reference(float(start[key][index]), gs, 0.05, 0.8, 0.99, 1e-6)
            assert float(to_numpy(param)[index]) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def adam_closed_form(theta, gradients, lr, beta_1, beta_2, epsilon):
    """theta after each Adam step, from the unrolled moments (float64):

        m_t = (1 - beta_1) * sum_k beta_1^(t - k) g_k      v_t = (1 - beta_2) * sum_k beta_2^(t - k) g_k^2
        theta_t = theta_(t-1) - lr * (m_t / (1 - beta_1^t)) / (sqrt(v_t / (1 - beta_2^t)) + epsilon)
    """
    trajectory = []
    for t in range(1, len(gradients) + 1):
        g = numpy.stack(gradients[:t])
        weights_1 = numpy.array([beta_1 ** (t - k) for k in range(1, t + 1)]).reshape(-1, *[1] * theta.ndim)
        weights_2 = numpy.array([beta_2 ** (t - k) for k in range(1, t + 1)]).reshape(-1, *[1] * theta.ndim)
        m = (1 - beta_1) * (weights_1 * g).sum(axis=0)
        v = (1 - beta_2) * (weights_2 * g * g).sum(axis=0)
        theta = theta - lr * (m / (1 - beta_1 ** t)) / (numpy.sqrt(v / (1 - beta_2 ** t)) + epsilon)
        trajectory.append(theta)
    return trajectory


@given(seed=seeds, steps=st.integers(1, 4), lr=st.floats(1e-5, 0.1), beta_1=st.floats(0.0, 0.99),
       beta_2=st.floats(0.0, 0.9999), epsilon=st.floats(1e-8, 1e-3), scale=st.floats(1e-3, 1e3))
@xp_settings()
def test_adam_first_steps_match_the_closed_form(xp, seed, steps, lr, beta_1, beta_2, epsilon, scale):
    rng = numpy.random.default_rng(seed)
    theta = rng.standard_normal((3, 2))
    gradients = [scale * rng.standard_normal(theta.shape) for _ in range(steps)]
    params = {"w": backend.to_device(theta.copy())}
    opt = Adam(learning_rate=lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    for g, expected in zip(gradients, adam_closed_form(theta, gradients, lr, beta_1, beta_2, epsilon)):
        opt.step(params, {"w": backend.to_device(g)})
        numpy.testing.assert_allclose(to_numpy(params["w"]), expected, rtol=1e-10, atol=1e-12)


def test_adam_update_is_in_place_and_keeps_float32(xp):
    params = make_params()
    live = params["conv2d_1/kernel"]
    opt = Adam()
    opt.step(params, make_grads(params, 1))
    assert params["conv2d_1/kernel"] is live
    assert live.dtype == numpy.float32
    assert opt.state["m"]["conv2d_1/kernel"].dtype == numpy.float32


def test_adam_update_function_alone(xp):
    param, grad = xp.ones(3), xp.full(3, 0.5)
    m, v = xp.zeros(3), xp.zeros(3)
    adam_update(param, grad, m, v, 1, 0.1, 0.9, 0.999, 0.0)
    numpy.testing.assert_allclose(to_numpy(m), 0.05)
    numpy.testing.assert_allclose(to_numpy(v), 0.00025)
    numpy.testing.assert_allclose(to_numpy(param), 0.9)


@pytest.mark.parametrize("make_optimizer", [lambda: Adam(learning_rate=0.01),
                                            lambda: SGD(learning_rate=0.1, momentum=0.9)])
def test_state_save_and_restore_continues_the_same_trajectory(xp, make_optimizer, tmp_path):
    gradient_sequence = [make_grads(make_params(), seed) for seed in range(1, 7)]
    params_a, opt_a = make_params(), make_optimizer()
    for grads in gradient_sequence:
        opt_a.step(params_a, grads)

    params_b, opt_b = make_params(), make_optimizer()
    for grads in gradient_sequence[:3]:
        opt_b.step(params_b, grads)
    numpy.savez(tmp_path / "state.npz", **opt_b.state_dict())
    saved_weights = {k: to_numpy(p).copy() for k, p in params_b.items()}

    params_c = {k: backend.to_device(v) for k, v in saved_weights.items()}
    opt_c = make_optimizer()
    with numpy.load(tmp_path / "state.npz", allow_pickle=False) as f:
        opt_c.load_state_dict(dict(f))
    assert opt_c.iterations == 3
    for grads in gradient_sequence[3:]:
        opt_c.step(params_c, grads)
    for key in params_a:
        numpy.testing.assert_array_equal(to_numpy(params_c[key]), to_numpy(params_a[key]))


def test_state_dict_key_scheme_and_snapshot(xp):
    params = make_params()
    opt = Adam()
    opt.step(params, make_grads(params, 1))
    state = opt.state_dict()
    assert set(state) == {"iterations", "m/conv2d_1/kernel", "m/conv2d_1/bias", "v/conv2d_1/kernel",
                          "v/conv2d_1/bias", "step/conv2d_1/kernel", "step/conv2d_1/bias"}
    assert state["iterations"] == 1 and state["step/conv2d_1/bias"] == 1
    assert all(isinstance(v, (int, numpy.ndarray)) for v in state.values())
    m_saved = state["m/conv2d_1/kernel"].copy()
    opt.step(params, make_grads(params, 2))
    numpy.testing.assert_array_equal(state["m/conv2d_1/kernel"], m_saved)  # a snapshot, not a view


def test_load_state_dict_accepts_nested_dicts(xp):
    params = make_params()
    opt = Adam()
    opt.step(params, make_grads(params, 1))
    flat = opt.state_dict()
    nested = {"iterations": flat["iterations"]}
    for key, value in flat.items():
        parts = key.split("/")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    restored = Adam()
    restored.load_state_dict(nested)
    assert set(restored.state_dict()) == set(flat)


def test_load_state_dict_refuses_unknown_keys():
    opt = Adam()
    with pytest.raises(ValueError, match="momentum_buffer/w"):
        opt.load_state_dict({"iterations": 1, "momentum_buffer/w": numpy.zeros(2)})
    with pytest.raises(ValueError, match="iterations"):
        opt.load_state_dict({"m/w": numpy.zeros(2)})
    assert opt.iterations == 0 and opt.state["m"] == {}


def test_state_dict_survives_an_npz_round_trip_in_memory():
    params = {"w": numpy.ones(3, dtype=numpy.float32)}
    opt = SGD(0.1, momentum=0.5)
    opt.step(params, {"w": numpy.ones(3, dtype=numpy.float32)})
    buffer = io.BytesIO()
    numpy.savez(buffer, **opt.state_dict())
    buffer.seek(0)
    other = SGD(0.1, momentum=0.5)
    other.load_state_dict(dict(numpy.load(buffer, allow_pickle=False)))
    numpy.testing.assert_array_equal(other.state_dict()["momentum_buffer/w"], numpy.ones(3))


def test_sgd_momentum_against_hand_computed_steps(xp):
    params = {"w": xp.asarray([1.0])}
    opt = SGD(learning_rate=0.1, momentum=0.9)
    for g, expected in [(1.0, 0.9), (1.0, 0.9 - 0.1 * 1.9), (-2.0, 0.71 - 0.1 * (0.9 * 1.9 - 2.0))]:
        opt.step(params, {"w": xp.asarray([g])})
        assert float(params["w"][0]) == pytest.approx(expected, rel=1e-12)


def test_sgd_without_momentum_keeps_no_state(xp):
    params = {"w": xp.asarray([1.0, 2.0])}
    opt = SGD(learning_rate=0.5)
    opt.step(params, {"w": xp.asarray([1.0, -1.0])})
    numpy.testing.assert_allclose(to_numpy(params["w"]), [0.5, 2.5])
    assert opt.state_dict() == {"iterations": 1}


@pytest.mark.parametrize("opt", [Adam(), SGD(0.1, momentum=0.9)], ids=["adam", "sgd"])
def test_missing_extra_or_misshapen_gradients_change_nothing(xp, opt):
    params = make_params()
    before = {k: to_numpy(p).copy() for k, p in params.items()}
    grads = make_grads(params, 1)
    with pytest.raises(ValueError, match="no gradient for 'conv2d_1/bias'"):
        opt.step(params, {"conv2d_1/kernel": grads["conv2d_1/kernel"]})
    with pytest.raises(ValueError, match="'extra' has no matching param"):
        opt.step(params, {**grads, "extra": xp.zeros(1)})
    with pytest.raises(ValueError, match=r"conv2d_1/bias.*\(3,\).*\(2,\)"):
        opt.step(params, {**grads, "conv2d_1/bias": xp.zeros(3)})
    for key in params:
        numpy.testing.assert_array_equal(to_numpy(params[key]), before[key])
    assert opt.iterations == 0


def test_restored_state_of_another_shape_is_refused(xp):
    opt = Adam()
    opt.load_state_dict({"iterations": 1, "m/w": numpy.zeros(3), "v/w": numpy.zeros(3), "step/w": 1})
    with pytest.raises(ValueError, match=r"m/w.*\(3,\).*\(4,\)"):
        opt.step({"w": xp.zeros(4)}, {"w": xp.zeros(4)})


@pytest.mark.parametrize("bad", [dict(learning_rate=0), dict(beta_1=1.0), dict(beta_2=-0.1)])
def test_adam_refuses_bad_hyperparameters(bad):
    with pytest.raises(ValueError):
        Adam(**bad)


def test_sgd_refuses_bad_momentum():
    with pytest.raises(ValueError, match="momentum"):
        SGD(0.1, momentum=1.5)


def test_adam_param_added_later_gets_its_own_bias_correction(xp):
    params = {"old": xp.zeros(2)}
    opt = Adam(learning_rate=0.1)
    opt.step(params, {"old": xp.ones(2)})
    params["new"] = xp.zeros(2)
    opt.step(params, {"old": xp.ones(2), "new": xp.asarray([2.0, -2.0])})
    # "new" is at its own t = 1: the closed form lr * g / (|g| + eps)
    numpy.testing.assert_allclose(to_numpy(params["new"]), [-0.1, 0.1], rtol=1e-6)
    assert opt.state_dict()["step/old"] == 2 and opt.state_dict()["step/new"] == 1
