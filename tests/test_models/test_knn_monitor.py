"""k-NN progress signal of stage 1: the scores equal scikit-learn's weighted k-NN, and
KNNMonitorHook logs them from a real demo run, the same on 2 ranks as on one."""

import json
import os.path as osp

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from cxr_testing import REPO_ROOT, make_nih_demo

from cxr_mm.evaluation.functional.knn import knn_multilabel_auc, knn_multilabel_scores

DEMO_CFG = osp.join(
    REPO_ROOT, 'configs', 'barlowtwins_cxr', 'barlowtwins-cxr_resnet50_1xb8-12it_demo-nih-64.py'
)


def _sklearn_scores(query, ref, labels, k):
    from sklearn.neighbors import KNeighborsClassifier

    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    knn = KNeighborsClassifier(n_neighbors=k, weights='distance').fit(norm(ref), labels)
    out = np.zeros((len(query), labels.shape[1]))
    for c, proba in enumerate(knn.predict_proba(norm(query))):
        classes = list(knn.classes_[c])
        if 1 in classes:  # a finding absent from the references scores 0
            out[:, c] = proba[:, classes.index(1)]
    return out


@pytest.mark.parametrize('k', [1, 5, 20])
def test_knn_scores_equal_sklearn_distance_weighted(k):
    rng = np.random.default_rng(k)
    ref = rng.normal(size=(120, 32))
    labels = (rng.random((120, 14)) < 0.2).astype(int)
    labels[:, 13] = 0  # a finding no reference has
    query = rng.normal(size=(50, 32))
    query[0] = ref[7]  # distance 0: takes only that reference (both ways)
    ours = knn_multilabel_scores(
        torch.from_numpy(query), torch.from_numpy(ref), torch.from_numpy(labels), k=k, chunk=16
    ).numpy()
    np.testing.assert_allclose(ours, _sklearn_scores(query, ref, labels, k), atol=1e-5)
    np.testing.assert_array_equal(ours[0], labels[7])


def test_knn_auc_mean_skips_undefined_findings():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    ref, query = rng.normal(size=(80, 8)), rng.normal(size=(40, 8))
    ref_y = (rng.random((80, 3)) < 0.4).astype(np.float32)
    q_y = (rng.random((40, 3)) < 0.4).astype(np.float32)
    q_y[:, 2] = 0  # no positive query: AUC undefined, left out of the mean
    t = torch.from_numpy
    res = knn_multilabel_auc(t(query), t(q_y), t(ref), t(ref_y), k=7, classes=['a', 'b', 'c'])
    scores = _sklearn_scores(query, ref, ref_y.astype(int), 7)
    want = [roc_auc_score(q_y[:, c], scores[:, c]) for c in range(2)]
    assert res['a'] == pytest.approx(want[0]) and res['b'] == pytest.approx(want[1])
    assert np.isnan(res['c']) and res['num_skipped'] == 1
    assert res['mean'] == pytest.approx(np.mean(want))


def _demo_cfg(nih_root, work_dir, **hook):
    from mmengine.config import Config

    cfg = Config.fromfile(DEMO_CFG)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.data_root = nih_root
    cfg.train_dataloader.dataset.indices = 16
    cfg.train_cfg.max_iters = 1
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=100)
    cfg.custom_hooks[0].update(interval=1, num_query=24, num_reference=48, **hook)
    return cfg


@pytest.fixture(scope='module')
def nih_root(tmp_path_factory):
    return make_nih_demo(str(tmp_path_factory.mktemp('knn') / 'nih'))


def test_hook_logs_auc_from_step_0_in_a_demo_run(nih_root, tmp_path):
    """The demo config's hook, 1 training step: AUC at steps 0 and 1 in the log and
    scalars.json; the last equals k-NN on embeddings made here from the trained backbone."""
    from mmengine.runner import Runner

    runner = Runner.from_cfg(_demo_cfg(nih_root, tmp_path))
    runner.train()
    hook = next(h for h in runner.hooks if type(h).__name__ == 'KNNMonitorHook')
    assert [(u, s) for u, s, _ in hook.history] == [('iter', 0), ('iter', 1)]
    first, last = hook.history[0][2], hook.history[-1][2]
    assert 0 <= last['mean'] <= 1 and first['mean'] != last['mean']  # the backbone moved
    rows = [json.loads(x) for x in open(osp.join(runner.log_dir, 'vis_data', 'scalars.json'))]
    knn = [r for r in rows if 'knn/mAUC' in r]
    assert [r['step'] for r in knn] == [0, 1]
    assert knn[-1]['knn/mAUC'] == pytest.approx(last['mean'])
    assert 'knn/seconds' in knn[0] and any(k.startswith('knn/AUC_') for k in knn[0])
    log = open(osp.join(runner.log_dir, osp.basename(runner.log_dir) + '.log')).read()
    assert 'KNNMonitorHook iter 0: 10-NN mean AUC' in log and 'before training)' in log
    assert 'to the run so far' in log  # step 1: its cost against the training so far

    # Independently: same subsets (the datasets the hook chose), plain forward.
    model = runner.model.eval()
    emb = {}
    with torch.no_grad():
        for role, (ds, labels) in hook._sets.items():
            x = torch.stack([ds[i]['inputs'] for i in range(len(ds))])
            x = model.data_preprocessor(dict(inputs=[x], data_samples=None))['inputs'][0]
            emb[role] = model.backbone(x)[-1].mean(dim=(2, 3))
            assert emb[role].shape == (len(labels), 2048)
    t = torch.from_numpy
    want = knn_multilabel_auc(
        emb['query'], t(hook._sets['query'][1]), emb['reference'], t(hook._sets['reference'][1]), 10
    )
    assert last['mean'] == pytest.approx(want['mean'], abs=1e-6)


def _evaluate(nih_root):
    """KNNMonitorHook.evaluate of the demo config's hook on a randomly initialised
    model (seed 0); rank 0's result (None on the others)."""
    from types import SimpleNamespace

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import HOOKS, MODELS

    import cxr_mm.register  # noqa: F401

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(DEMO_CFG)
    cfg.train_dataloader.dataset.data_root = nih_root
    cfg.model.backbone_checkpoint = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    hook_cfg = dict(cfg.custom_hooks[0], num_query=10, num_reference=21, batch_size=4)
    hook = HOOKS.build(hook_cfg)
    return hook.evaluate(SimpleNamespace(cfg=cfg, model=model))


def _rank_worker(rank, world, port, nih_root, out):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world
    )
    res = _evaluate(nih_root)
    if rank == 0:
        torch.save(res, out)
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_give_the_one_rank_result(nih_root, tmp_path):
    """Each of 2 gloo ranks embeds its share (21 references: 11 and 10); the
    gathered result equals this single process's."""
    import socket

    one = _evaluate(nih_root)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = str(tmp_path / 'w2.pt')
    mp.spawn(_rank_worker, args=(2, port, nih_root, out), nprocs=2, join=True)
    two = torch.load(out, weights_only=False)
    assert one.keys() == two.keys() and 0 <= one['mean'] <= 1
    for key in one:
        assert one[key] == pytest.approx(two[key], nan_ok=True, abs=1e-6), key
