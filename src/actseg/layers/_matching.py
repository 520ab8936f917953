r"""Deep graph matching for keypoint refinement: PCA-GM with a batched Sinkhorn (RTK §3.2).

RTK (Refined Temporal Keypoints, §3.2, eq. 4–5) matches a graph of detected keypoints (source) to the graph
of ground-truth boundary and mid-points (target) with PCA-GM (Wang, Yan & Yang, ICCV 2019 / TPAMI 2020),
supervised by the permutation loss (:func:`actseg.losses.permutation_loss`); the GCN embeddings are the
contextual features ``G`` of eq. 4. Reference implementation: pygmtools 0.6 ``pca_gm`` (``PCA_GM_Net``,
``Siamese_Gconv``, ``WeightedInnerProdAffinity``, ``sinkhorn``), whose outputs this module reproduces;
load its weights with ``actseg.io.convert_state_dict(sd, "pygmtools-pca-gm")``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ._common import channel_count, check_parameter_count, compiling, layer_count

__all__ = ["GraphMatching"]

MAX_SINKHORN_ITERATIONS = 10_000


def _node_counts(n: object, name: str, batch: int, size: int, device: torch.device) -> Tensor:
    """``(b,)`` int64 node counts in ``[0, size]`` (the padding) on ``device``; a tensor, array or sequence.

    A meta tensor, or any tensor while ``torch.compile`` traces (:func:`compiling`), is checked for its shape
    and dtype only: the range check reads values (a graph break), so it steps aside there.
    """
    if _checks.is_tensor(n) and (n.is_meta or compiling()):
        _checks.tensor(n, name, "(b,)", dtype="integer", sizes={"b": batch})
        return n if n.is_meta else n.to(device=device, dtype=torch.int64)
    counts = _checks.integer_array(n, name, 1)
    if counts.shape != (batch,):
        raise ValueError(f"{name}: expected shape ({batch},) (one node count per graph), "
                         f"got {_checks.shape_str(counts.shape)}")
    if counts.size and (counts.min() < 0 or counts.max() > size):
        raise ValueError(f"{name}: expected node counts in [0, {size}] (the padded size), got {counts.tolist()}")
    return torch.as_tensor(counts, device=device)


class _SinkhornRowsFirst(torch.autograd.Function):
    r"""Log-domain Sinkhorn iterations on a padded batch, as pygmtools: even iterations normalise rows,
    odd ones columns, each over the valid ``[:n1, :n2]`` block only. Returns ``S = exp(x_K)``.

    ``x_{k+1} = x_k - logsumexp_d(x_k)`` is computed on ``y_k = exp(x_k)`` itself where that is exact
    (``y_{k+1} = y_k / sum_d y_k``, two passes over the batch instead of six, in place), with the
    potentials ``u`` (rows), ``v`` (columns) kept so that ``x_k = x_0 - u - v``; a step whose valid sums fall
    below ``2**24`` times the smallest normal number (an entry that underflowed could matter there) is
    taken in the log domain from ``x_0 - u - v``, as pygmtools does every step. The backward pass needs no
    stored iterates: ``g_k = g_{k+1} - y_{k+1} \sum_d g_{k+1}`` (gradients with respect to ``x``), and
    ``y_k = y_{k+1} \cdot \sum_d y_k`` is recovered from the stored sums (the iterates of log-domain steps
    are stored).

    Inputs: ``x0`` ``(b, R, C)`` (padded entries hold a large negative finite value, so they add exactly 0
    to every sum), ``rows`` ``(b, R, 1)`` and ``cols`` ``(b, 1, C)`` 0/1 masks of the valid block.
    """

    @staticmethod
    def forward(ctx, x0: Tensor, rows: Tensor, cols: Tensor, iterations: int) -> Tensor:
        tiny = torch.finfo(x0.dtype).tiny * 2**24
        masks = (rows, cols)
        potentials = [torch.zeros_like(rows), torch.zeros_like(cols)]
        sums: list[Tensor | None] = []
        stored: dict[int, Tensor] = {}
        y = x0
        for i in range(iterations):
            side = i % 2
            dim, mask = 2 - side, masks[side]
            if i > 0:
                total = y.sum(dim=dim, keepdim=True).add_(1.0 - mask)  # padded rows / columns: divide 0 by 1
                if not bool((total < tiny).any()):
                    y.div_(total)
                    potentials[side].add_(total.log())
                    sums.append(total)
                    continue
                stored[i] = y
            x = x0 - potentials[0] - potentials[1]
            lse = torch.logsumexp(x, dim=dim, keepdim=True).mul_(mask)
            potentials[side].add_(lse)
            y = x.sub_(lse).exp_()
            sums.append(None)
        if iterations == 0:
            y = x0.exp()
        ctx.iterations = iterations
        ctx.sums, ctx.stored = sums, stored
        ctx.save_for_backward(rows, cols, y)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        rows, cols, out = ctx.saved_tensors
        masks = (rows, cols)
        g = grad * out  # with respect to x_K = log S
        y = out.clone()
        for i in range(ctx.iterations - 1, -1, -1):
            side = i % 2
            dim = 2 - side
            g.addcmul_(y, g.sum(dim=dim, keepdim=True).mul_(masks[side]), value=-1.0)
            if i == 0:
                break
            total = ctx.sums[i]
            y = ctx.stored[i].clone() if total is None else y.mul_(total)  # a second backward needs it intact
        return g, None, None, None


def _sinkhorn_rows_first(log_s: Tensor, rows: Tensor, cols: Tensor, iterations: int) -> Tensor:
    return _SinkhornRowsFirst.apply(log_s, rows, cols, iterations)


def _sinkhorn_log_domain(log_s: Tensor, rows: Tensor, cols: Tensor, columns_first: Tensor,
                         iterations: int) -> Tensor:
    r"""pygmtools' log-domain steps ``x \leftarrow x - \mathrm{logsumexp}(x)`` on the whole padded batch, the path
    taken while ``torch.compile`` traces: no data-dependent branch (the eager path's underflow test and
    orientation split read values), plain differentiable ops of static shapes.

    Each graph starts with its smaller side (``columns_first`` ``(b,)`` picks columns): every step computes
    both log-sums and keeps, per graph, the one of its side (twice the reductions of one orientation,
    no gather, no transpose). ``rows``/``cols`` are the 0/1 masks of the valid block; padded entries of
    ``log_s`` hold a large negative finite value, so they add 0 to every sum and padded rows/columns
    subtract 0 (their log-sum is masked out).
    """
    flip = columns_first[:, None, None]
    x = log_s
    for i in range(iterations):
        lse_rows = torch.logsumexp(x, dim=2, keepdim=True) * rows  # (b, R, 1): normalises each row
        lse_cols = torch.logsumexp(x, dim=1, keepdim=True) * cols  # (b, 1, C): normalises each column
        x = x - torch.where(flip != (i % 2 == 1), lse_cols, lse_rows)
    return x.exp()


def sinkhorn(scores: Tensor, n1: Tensor, n2: Tensor, iterations: int, tau: float) -> Tensor:
    r"""Batched Sinkhorn (pygmtools ``sinkhorn(s, n1, n2, max_iter=iterations, tau=tau)``): ``(b, N1, N2)`` scores
    -> doubly-stochastic matrices, exactly 0 outside ``[:n1, :n2]``.

    .. math:: \log S^{(0)} = s / \tau,\quad
              \log S^{(k+1)} = \log S^{(k)} - \mathrm{logsumexp}_{\text{rows or columns}} \log S^{(k)}

    As pygmtools, each graph is oriented so that its smaller side comes first (normalised on even
    iterations; a tie follows the padded shapes: rows first when ``N1 <= N2``). pygmtools loops over the
    graphs; here the two orientations are two batched runs.
    """
    dtype, scores = scores.dtype, _checks.upcast_half(scores)  # float16 / bfloat16 (autocast) in float32
    _, size1, size2 = scores.shape
    valid1 = torch.arange(size1, device=scores.device) < n1[:, None]  # (b, N1)
    valid2 = torch.arange(size2, device=scores.device) < n2[:, None]  # (b, N2)
    valid = valid1[:, :, None] & valid2[:, None, :]
    fill = -torch.finfo(scores.dtype).max / 8  # exp(fill - anything finite) == 0, fill - finite stays finite
    log_s = torch.where(valid, scores / tau, scores.new_full((), fill))
    rows, cols = valid1[:, :, None].to(scores.dtype), valid2[:, None, :].to(scores.dtype)
    columns_first = n1 > n2 if size2 >= size1 else n1 >= n2
    if compiling():  # static shapes, no value-dependent branch: log-domain steps with both orientations
        out = _sinkhorn_log_domain(log_s, rows, cols, columns_first, iterations)
    elif not bool(columns_first.any()):
        out = _sinkhorn_rows_first(log_s, rows, cols, iterations)
    elif bool(columns_first.all()):
        out = _sinkhorn_rows_first(log_s.transpose(1, 2), cols.transpose(1, 2), rows.transpose(1, 2),
                                   iterations).transpose(1, 2)
    else:
        a, b = torch.nonzero(~columns_first).squeeze(1), torch.nonzero(columns_first).squeeze(1)
        out_a = _sinkhorn_rows_first(log_s[a], rows[a], cols[a], iterations)
        out_b = _sinkhorn_rows_first(log_s[b].transpose(1, 2), cols[b].transpose(1, 2), rows[b].transpose(1, 2),
                                     iterations).transpose(1, 2)
        out = torch.empty_like(log_s).index_copy(0, a, out_a).index_copy(0, b, out_b)
    return torch.where(valid, out, scores.new_zeros(())).to(dtype)


class _GraphConv(nn.Module):
    r"""PCA-GM's graph convolution (pygmtools ``Gconv``): ``x' = \hat A \, ReLU(x W_a) + ReLU(x W_u)``, ``\hat A``
    the adjacency with L1-normalised columns."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.a_fc = nn.Linear(in_channels, out_channels)
        self.u_fc = nn.Linear(in_channels, out_channels)

    def forward(self, adj1: Tensor, adj2: Tensor, x: Tensor, size1: int) -> tuple[Tensor, Tensor]:
        """Both graphs at once: ``x`` ``(b, N1 + N2, in)`` (graph 1 first) -> ``(b, N1, out)``, ``(b, N2, out)``."""
        # one matrix product for both weights and both graphs: (b, N1 + N2, 2 * out)
        both = F.linear(x, torch.cat([self.a_fc.weight, self.u_fc.weight]), torch.cat([self.a_fc.bias, self.u_fc.bias]))
        a, u = F.relu(both).chunk(2, dim=-1)
        return (torch.baddbmm(u[:, :size1], adj1, a[:, :size1]),
                torch.baddbmm(u[:, size1:], adj2, a[:, size1:]))


def _column_normalised(adjacency: Tensor) -> Tensor:
    """Columns L1-normalised, as pygmtools' ``F.normalize(A, p=1, dim=-2)``; half precision in float32 (its
    ``eps = 1e-12`` rounds to 0 in float16, and an empty column, a padded or isolated node, would be 0/0)."""
    return F.normalize(_checks.upcast_half(adjacency), p=1, dim=-2).to(adjacency.dtype)


class GraphMatching(nn.Module):
    r"""PCA-GM graph matching (RTK §3.2; Wang et al., ICCV 2019 / TPAMI 2020), channels-last as pygmtools.

    Siamese graph convolutions embed both graphs (``num_layers`` layers); after the second-last layer a
    cross-graph update mixes in the other graph through the current matching,

    .. math::
        S = \mathrm{Sinkhorn}(E_1 W E_2^\top / \tau),\quad
        E_1 \leftarrow \mathrm{Linear}([E_1,\ S E_2]),\quad E_2 \leftarrow \mathrm{Linear}([E_2,\ S^\top E_1]),

    and the last layer's embeddings give the output matching ``S = Sinkhorn(E_1 W' E_2^T / τ)``. The embeddings
    are RTK's contextual features ``G`` of eq. 4 (``G' = N'(cat(G, I))``); ``S`` is supervised by the
    permutation loss of eq. 5 (:func:`actseg.losses.permutation_loss`).

    Same outputs as pygmtools ``pca_gm`` with the same weights (``actseg.io.convert_state_dict(sd,
    "pygmtools-pca-gm")``), to 1e-5 in float32. Differences: the Sinkhorn runs on the whole batch at once
    (pygmtools loops over the graphs); padded nodes have no influence whatever their features or adjacency
    entries hold (pygmtools lets nonzero adjacency entries of padded nodes leak in) and get zero embeddings;
    a graph with 0 nodes gives a zero matching. Decode ``S`` into a permutation with :meth:`hungarian`.

    Args:
        in_channels: node feature channels ``d``.
        hidden_channels: channels of the hidden graph convolutions.
        out_channels: channels of the output embeddings.
        num_layers: graph convolutions (``>= 2``; the cross-graph update follows layer ``num_layers - 2``).
        sinkhorn_iterations: Sinkhorn normalisations (pygmtools ``sk_max_iter``, 20).
        sinkhorn_tau: Sinkhorn temperature ``τ`` (pygmtools ``sk_tau``, 0.05).

    Shape:
        ``feat1`` ``(b, N1, d)``, ``feat2`` ``(b, N2, d)``, ``A1`` ``(b, N1, N1)``, ``A2`` ``(b, N2, N2)`` (0/1 or
        weighted adjacency, ``A[i, j]`` = edge ``j -> i``), ``n1``/``n2`` ``(b,)`` integer node counts ``<= N1``/``N2``
        → ``S`` ``(b, N1, N2)`` (0 outside ``[:n1, :n2]``), ``emb1`` ``(b, N1, out)``, ``emb2`` ``(b, N2, out)``
        (0 at padded nodes).

    Example:
        >>> gm = GraphMatching(16, 32, 32)
        >>> A = (torch.rand(2, 5, 5) > 0.5).float()
        >>> S, emb1, emb2 = gm(torch.randn(2, 5, 16), torch.randn(2, 5, 16), A, A, torch.tensor([5, 3]),
        ...                    torch.tensor([4, 5]))
        >>> S.shape, emb1.shape, float(S[1, 3:].abs().sum())
        (torch.Size([2, 5, 5]), torch.Size([2, 5, 32]), 0.0)
        >>> GraphMatching.hungarian(S, torch.tensor([5, 3]), torch.tensor([4, 5])).sum(dim=(1, 2))
        tensor([4., 3.])
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                 sinkhorn_iterations: int = 20, sinkhorn_tau: float = 0.05) -> None:
        super().__init__()
        self.in_channels = in_channels = channel_count(in_channels, "in_channels")
        hidden_channels = channel_count(hidden_channels, "hidden_channels")
        self.out_channels = out_channels = channel_count(out_channels, "out_channels")
        num_layers = layer_count(num_layers, "num_layers")
        if num_layers < 2:
            raise ValueError(f"num_layers: expected an integer >= 2 (PCA-GM's cross-graph layer), got {num_layers}")
        self.sinkhorn_iterations = _checks.size(sinkhorn_iterations, "sinkhorn_iterations", low=0,
                                                high=MAX_SINKHORN_ITERATIONS)
        self.sinkhorn_tau = _checks.real(sinkhorn_tau, "sinkhorn_tau", low=0.0, low_open=True)
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        count = sum(2 * (a * b + b) for a, b in zip(widths[:-1], widths[1:]))
        count += 2 * hidden_channels**2 + hidden_channels + hidden_channels**2 + out_channels**2
        check_parameter_count(count, "in_channels, hidden_channels, out_channels, num_layers")
        self.gconvs = nn.ModuleList(_GraphConv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.cross_graph = nn.Linear(2 * hidden_channels, hidden_channels)
        # pygmtools' WeightedInnerProdAffinity initialisation: U(-1/sqrt(d), 1/sqrt(d)) + identity
        self.affinity = nn.ParameterDict({
            str(num_layers - 2): nn.Parameter(torch.empty(hidden_channels, hidden_channels)),
            str(num_layers - 1): nn.Parameter(torch.empty(out_channels, out_channels)),
        })
        for weight in self.affinity.values():
            bound = 1.0 / weight.shape[0] ** 0.5
            with torch.no_grad():
                weight.uniform_(-bound, bound).add_(torch.eye(weight.shape[0]))

    def forward(self, feat1: Tensor, feat2: Tensor, A1: Tensor, A2: Tensor, n1: Tensor,
                n2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        feat1, feat2, A1, A2, n1, n2 = self._inputs(feat1, feat2, A1, A2, n1, n2)
        size1, size2 = feat1.shape[1], feat2.shape[1]
        if feat1.is_meta:  # shape inference
            return (feat1.new_empty(feat1.shape[0], size1, size2), feat1.new_empty(*feat1.shape[:2], self.out_channels),
                    feat2.new_empty(*feat2.shape[:2], self.out_channels))
        valid1 = (torch.arange(size1, device=n1.device) < n1[:, None]).unsqueeze(-1)  # (b, N1, 1)
        valid2 = (torch.arange(size2, device=n2.device) < n2[:, None]).unsqueeze(-1)
        # padded nodes: no features, no edges (columns L1-normalised as pygmtools' F.normalize(A, p=1, dim=-2))
        emb = torch.cat([torch.where(valid1, feat1, 0.0), torch.where(valid2, feat2, 0.0)], dim=1)
        adj1, adj2 = (_column_normalised(torch.where(valid & valid.transpose(1, 2), A, 0.0))
                      for A, valid in ((A1, valid1), (A2, valid2)))
        last = len(self.gconvs) - 1
        for i, gconv in enumerate(self.gconvs):
            emb1, emb2 = gconv(adj1, adj2, emb, size1)
            if i == last - 1:
                s = self._match(emb1, emb2, n1, n2, self.affinity[str(i)])
                emb = self.cross_graph(torch.cat([
                    torch.cat([emb1, torch.bmm(s, emb2)], dim=-1),
                    torch.cat([emb2, torch.bmm(s.transpose(1, 2), emb1)], dim=-1)], dim=1))
            else:
                emb = torch.cat([emb1, emb2], dim=1)
        s = self._match(emb1, emb2, n1, n2, self.affinity[str(last)])
        return s, torch.where(valid1, emb1, 0.0), torch.where(valid2, emb2, 0.0)

    def _match(self, emb1: Tensor, emb2: Tensor, n1: Tensor, n2: Tensor, weight: Tensor) -> Tensor:
        scores = torch.bmm(torch.matmul(emb1, weight), emb2.transpose(1, 2))
        return sinkhorn(scores, n1, n2, self.sinkhorn_iterations, self.sinkhorn_tau)

    def _inputs(self, feat1: Tensor, feat2: Tensor, A1: Tensor, A2: Tensor, n1: object,
                n2: object) -> tuple[Tensor, ...]:
        d = self.in_channels
        _checks.tensor(feat1, "feat1", "(b, n1, d)", sizes={"d": d})
        _checks.module_tensor(feat1, "feat1", self)
        batch, size1, size2 = feat1.shape[0], feat1.shape[1], None
        _checks.tensor(feat2, "feat2", "(b, n2, d)", sizes={"b": batch, "d": d})
        _checks.module_tensor(feat2, "feat2", self)
        size2 = feat2.shape[1]
        _checks.tensor(A1, "A1", "(b, n1, n1)", sizes={"b": batch, "n1": size1})
        _checks.tensor(A2, "A2", "(b, n2, n2)", sizes={"b": batch, "n2": size2})
        for x, name in ((A1, "A1"), (A2, "A2")):
            if x.device != feat1.device:
                raise TypeError(f"{name}: expected a tensor on {feat1.device} (feat1's device), got {x.device}")
        for x, name in ((feat1, "feat1"), (feat2, "feat2"), (A1, "A1"), (A2, "A2")):
            if _checks.has_values(x) and not compiling():  # a value check: steps aside while compiling
                _checks.no_nan(x, name)
        n1 = _node_counts(n1, "n1", batch, size1, feat1.device)
        n2 = _node_counts(n2, "n2", batch, size2, feat1.device)
        if feat1.is_meta:
            return feat1, feat2, A1, A2, n1, n2
        return feat1, feat2, A1.to(feat1.dtype), A2.to(feat1.dtype), n1, n2

    @staticmethod
    def hungarian(S: Tensor, n1: object = None, n2: object = None) -> Tensor:
        r"""Decode soft matchings into 0/1 permutation matrices for inference (pygmtools ``hungarian``).

        Per graph, ``scipy.optimize.linear_sum_assignment`` maximises ``\sum_{ij} S_{ij} X_{ij}`` over the valid
        ``[:n1, :n2]`` block (``min(n1, n2)`` ones, one per row and column at most). Not differentiable.

        Args:
            S: ``(b, N1, N2)`` matching scores (e.g. the first output of :class:`GraphMatching`).
            n1: ``(b,)`` node counts of the first graphs, or ``None`` (all rows).
            n2: ``(b,)`` node counts of the second graphs, or ``None`` (all columns).

        Returns:
            ``(b, N1, N2)`` tensor of ``S``'s dtype and device, 1 at matched pairs, 0 elsewhere.
        """
        from scipy.optimize import linear_sum_assignment

        _checks.tensor(S, "S", "(b, n1, n2)")
        scores = _checks.to_numpy(_checks.detached(S, "S"), "S").astype(np.float64)
        _checks.values_in_range(scores, "S")
        batch, size1, size2 = scores.shape
        counts1 = (np.full(batch, size1) if n1 is None else
                   _node_counts(n1, "n1", batch, size1, torch.device("cpu")).numpy())
        counts2 = (np.full(batch, size2) if n2 is None else
                   _node_counts(n2, "n2", batch, size2, torch.device("cpu")).numpy())
        out = np.zeros(scores.shape, dtype=np.float64)
        for b in range(batch):
            rows, cols = linear_sum_assignment(scores[b, :counts1[b], :counts2[b]], maximize=True)
            out[b, rows, cols] = 1.0
        return torch.from_numpy(out).to(device=S.device, dtype=S.dtype)
