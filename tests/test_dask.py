"""adjit.dask.value_and_grad on a local Dask cluster of two worker processes.

The oracle is the single-process `adjit.value_and_grad` of the same loss on the
whole data (concatenated chunks): the chunked result must equal it to 1e-12
relative, for sums and means, dict parameters and uneven chunks.
"""

import importlib
import os
import sys

import dask
import dask.array as da
import distributed
import numpy as np
import pytest

import adjit
import adjit.dask as adjit_dask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(adjit.__file__)))


@pytest.fixture(scope="module")
def client():
    """Two worker processes that import this checkout's adjit (PYTHONPATH), not
    another one an editable install may point to; not the default client, so
    tests outside `client.as_current()` see Dask's default scheduler."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, old]))
    try:
        with dask.config.set(adjit_dask.worker_config()):
            cluster = distributed.LocalCluster(
                n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
            )
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


def mlp_loss(params, X, y):
    h = np.tanh(X @ params["W"] + params["b"])
    logits = h @ params["V"]
    logits = logits - logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def logreg_sum(w, X, y, scale):
    return scale * np.logaddexp(0.0, -y * (X @ w)).sum()


def mlp_params(rng):
    return {
        "W": rng.standard_normal((6, 8)),
        "b": rng.standard_normal(8),
        "V": rng.standard_normal((8, 3)),
    }


def close(got, want, rtol=1e-12):
    assert type(got) is type(want) or np.shape(got) == np.shape(want)
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for k in want:
            close(got[k], want[k], rtol)
        return
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            close(a, b, rtol)
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= rtol * np.max(np.abs(want)), (got, want)


def test_workers_run_this_checkout(client):
    with client.as_current():
        files = client.run(lambda: __import__("adjit").__file__)
        pids = client.run(os.getpid)
    assert len(files) == 2
    assert set(files.values()) == {adjit.__file__}
    assert os.getpid() not in pids.values()
    with client.as_current():
        malloc = client.run(lambda: {k: os.environ.get(k) for k in adjit_dask.WORKER_MALLOC})
    want = {k: str(v) for k, v in adjit_dask.WORKER_MALLOC.items()}
    assert list(malloc.values()) == [want, want]


# Chunk shapes repeat across tests: a shape compiled once (by a worker or here) is
# loaded from adjit's disk cache, shared with the workers, everywhere after.
MLP_ROWS = (64, 64, 64, 58)  # uneven: the weighting by rows matters
LOGREG_ROWS = (50, 0, 50, 30)  # an empty chunk too


def mlp_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((sum(MLP_ROWS), 6))
    y = rng.integers(0, 3, len(X))
    return mlp_params(rng), X, y


def logreg_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((sum(LOGREG_ROWS), 4))
    return rng.standard_normal(4), X, np.sign(rng.standard_normal(len(X)))


def split(x, rows):
    return np.split(x, np.cumsum(rows)[:-1])


def test_mean_dict_params_uneven_chunks(client):
    params, X, y = mlp_data()
    want = adjit.value_and_grad(mlp_loss)(params, X, y)
    Xd, yd = da.from_array(X, chunks=(MLP_ROWS, 6)), da.from_array(y, chunks=(MLP_ROWS,))
    vg = adjit_dask.value_and_grad(mlp_loss, reduce="mean")
    with client.as_current():
        got = vg(params, Xd, yd)
        compiled = client.run(lambda: vg.token in __import__("adjit.dask").dask._TRANSFORMS)
        again = vg(params, Xd, yd)  # the same parameters again: scattered under a new key
    close(got, want)
    close(again, want)
    # the workers compiled the chunk function themselves (this process did not)
    assert True in compiled.values()
    assert vg.token not in adjit_dask._TRANSFORMS


def test_sum_list_of_chunks_two_argnums(client):
    w, X, y = logreg_data()
    # argnums (0, 3): scale is differentiated and sent whole, not chunked
    want = adjit.value_and_grad(logreg_sum, argnums=(0, 3))
    vg = adjit_dask.value_and_grad(
        logreg_sum, argnums=(0, 3), reduce="sum", data_argnums=(1, 2), split_every=2
    )  # a tree of two levels
    with client.as_current():
        got = vg(w, split(X, LOGREG_ROWS), split(y, LOGREG_ROWS), 0.7)
        again = vg(1.5 * w, split(X, LOGREG_ROWS), split(y, LOGREG_ROWS), 0.7)
    close(got, want(w, X, y, 0.7))
    close(again, want(1.5 * w, X, y, 0.7))


def test_default_scheduler_without_client(client):
    """With no client active the same graph runs on Dask's default scheduler, here."""
    params, X, y = mlp_data()
    vg = adjit_dask.value_and_grad(mlp_loss, reduce="mean")
    got = vg(params, da.from_array(X, chunks=(MLP_ROWS, 6)), da.from_array(y, chunks=(MLP_ROWS,)))
    close(got, adjit.value_and_grad(mlp_loss)(params, X, y))
    assert vg.token in adjit_dask._TRANSFORMS  # compiled (or loaded) in this process


def test_columns_chunked_too_are_joined():
    w, X, y = logreg_data()
    vg = adjit_dask.value_and_grad(logreg_sum, argnums=(0, 3), data_argnums=(1, 2))
    got = vg(
        w, da.from_array(X, chunks=(LOGREG_ROWS, 2)), da.from_array(y, chunks=(LOGREG_ROWS,)), 1.0
    )
    close(got, adjit.value_and_grad(logreg_sum, argnums=(0, 3))(w, X, y, 1.0))


# --- errors ---------------------------------------------------------------------------


def data(rows_x=(50, 50), rows_y=(50, 50)):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((sum(rows_x), 6))
    y = rng.integers(0, 3, sum(rows_y))
    return mlp_params(rng), da.from_array(X, chunks=(rows_x, 6)), da.from_array(y, chunks=rows_y)


def test_mismatched_chunks():
    params, X, y = data((50, 50), (30, 70))
    with pytest.raises(adjit_dask.RowError, match=r"chunked differently.*\(50, 50\).*\(30, 70\)"):
        adjit_dask.value_and_grad(mlp_loss, reduce="mean")(params, X, y)


def test_mismatched_chunks_in_lists():
    rng = np.random.default_rng(6)
    w = rng.standard_normal(4)
    X = [rng.standard_normal((10, 4)), rng.standard_normal((10, 4))]
    y = [np.ones(10), np.ones(5), np.ones(5)]
    with pytest.raises(adjit_dask.RowError, match="chunked differently"):
        adjit_dask.value_and_grad(logreg_sum, data_argnums=(1, 2))(w, X, y, 1.0)


def test_unknown_chunk_sizes():
    params, X, y = data()
    keep = da.from_array(np.arange(100) % 3 > 0, chunks=50)
    with pytest.raises(adjit_dask.RowError, match="compute_chunk_sizes"):
        adjit_dask.value_and_grad(mlp_loss, reduce="mean")(params, X[keep], y[keep])


def test_unsupported_reduce():
    with pytest.raises(adjit_dask.RowError, match=r"reduce='max'.*\('sum', 'mean'\)"):
        adjit_dask.value_and_grad(mlp_loss, reduce="max")
    with pytest.raises(adjit.AdjitError, match="split_every"):
        adjit_dask.value_and_grad(mlp_loss, split_every=1)


def test_loss_not_per_row():
    def squared_mean(w, X):
        return np.mean(X @ w) ** 2  # mixes rows: not a sum or mean of per-row terms

    rng = np.random.default_rng(7)
    X = da.from_array(rng.standard_normal((40, 3)), chunks=(20, 3))
    for reduce in ("sum", "mean"):
        with pytest.raises(adjit_dask.RowError, match=f"not a {reduce} over rows"):
            adjit_dask.value_and_grad(squared_mean, reduce=reduce)(rng.standard_normal(3), X)


def test_mean_loss_declared_sum():
    params, X, y = data()
    with pytest.raises(adjit_dask.RowError, match="Pass reduce='mean'"):
        adjit_dask.value_and_grad(mlp_loss, reduce="sum")(params, X, y)


def test_non_scalar_loss():
    rng = np.random.default_rng(8)
    X = da.from_array(rng.standard_normal((40, 3)), chunks=(20, 3))
    with pytest.raises(adjit_dask.RowError, match="one scalar"):
        adjit_dask.value_and_grad(lambda w, X: X @ w)(rng.standard_normal(3), X)


def test_bad_data_arguments():
    params, X, y = data()
    vg = adjit_dask.value_and_grad(mlp_loss, reduce="mean")
    with pytest.raises(adjit_dask.RowError, match="dask.array.from_array"):
        vg(params, X.compute(), y)
    with pytest.raises(adjit_dask.RowError, match="both differentiated"):
        adjit_dask.value_and_grad(mlp_loss, argnums=1, data_argnums=(1, 2))(params, X, y)
    with pytest.raises(adjit_dask.RowError, match="out of range"):
        adjit_dask.value_and_grad(mlp_loss, data_argnums=(1, 5))(params, X, y)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "adjit.dask")
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"adjit\[dask\]"):
        importlib.import_module("adjit.dask")
