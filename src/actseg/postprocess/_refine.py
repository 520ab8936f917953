"""ASRF post-processing of frame-wise predictions: boundary refinement, short-run relabelling, Gaussian smoothing.

Ishikawa et al., "Alleviating Over-segmentation Errors by Detecting Action Boundaries" (ASRF), WACV
2021, Sec. 3.3 and 4.4 (``libs/postprocess.py``: ``PostProcessor`` with ``refinement_with_boundary``,
``relabeling``, ``smoothing``); InterAct (Sec. 3.3, "Generating Predictions") applies the same
boundary refinement as its "label smoothing strategy". Every difference from the reference code is
listed in the docstrings and in ``docs/boundary.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import (
    as_tensor,
    choice,
    elements,
    flag,
    index_value,
    integer_array,
    is_tensor,
    mask_rows,
    real,
    real_rows,
    renamed,
    shape_str,
    size,
    to_numpy,
    upcast_half,
    upcast_half_array,
)
from ._peaks import peak_rule_code, threshold_in

__all__ = ["gaussian_smoothing", "refine_by_boundaries", "relabel_short_segments"]

REFERENCES = (None, "asrf")
MAX_KERNEL_SIZE = 2**20 + 1
TIE_BREAKS = ("probability", "reference")  # deprecated values of tie_break= (0.1): reference=None / "asrf"


# ----------------------------------------------------------------------------------------------
# argument handling


def _scores_or_labels(x: Any, name: str) -> tuple[np.ndarray, bool, bool]:
    """``(array, is_scores, single)``: float ``(B, K, T)``/``(K, T)`` scores or integer ``(B, T)``/``(T,)`` labels."""
    arr = upcast_half_array(to_numpy(x, name))
    if arr.dtype == np.bool_:
        raise TypeError(f"{name}: expected floating class scores or integer labels, got dtype bool")
    if np.issubdtype(arr.dtype, np.floating):
        if arr.ndim not in (2, 3):
            raise ValueError(f"{name}: expected class scores of shape (B, K, T) or (K, T), got {shape_str(arr.shape)}")
        if arr.shape[-2] == 0:
            raise ValueError(f"{name}: expected at least one class, got shape {shape_str(arr.shape)}")
        single = arr.ndim == 2
        return np.ascontiguousarray(arr[None] if single else arr), True, single
    if np.issubdtype(arr.dtype, np.integer):
        if arr.ndim not in (1, 2):
            raise ValueError(f"{name}: expected integer labels of shape (B, T) or (T,), got {shape_str(arr.shape)}")
        single = arr.ndim == 1
        arr = integer_array(arr, name)  # int64; uint64 ids beyond it are an error, not wrapped
        return np.ascontiguousarray(arr[None] if single else arr), False, single
    raise TypeError(f"{name}: expected floating class scores or integer labels, got dtype {arr.dtype}")


def _dense_labels(labels: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the valid frames renumbered ``0 .. n − 1`` in increasing order, and the ``n`` original ids.

    Negative labels are kept (the kernel reports them); frames under the mask are not read. Labels
    below ``max(1024, 4 · frames)`` are kept as they are (identity ids: the kernel's per-class
    counter is then no larger than the input), larger ones are renumbered (``np.unique``).
    """
    values = labels[mask]
    if values.size == 0 or values.max() < max(1024, 4 * values.size):
        return labels, np.arange(max(int(values.max()) + 1 if values.size else 1, 1), dtype=np.int64)
    known = values >= 0
    ids, dense_ids = np.unique(values[known], return_inverse=True)
    values[known] = dense_ids.reshape(-1)
    dense = labels.copy()
    dense[mask] = values
    return dense, ids


def _from_logits(from_logits: Any) -> bool | None:
    return None if from_logits is None else flag(from_logits, "from_logits")


def _where(info: np.ndarray, single: bool) -> str:
    return f"frame {info[1]}" if single else f"batch element {info[0]}, frame {info[1]}"


def _like(result: np.ndarray, reference: Any, single: bool) -> Any:
    """Drop the batch axis of a single video and return a tensor on ``reference``'s device for tensor input."""
    out = result[0] if single else result
    if is_tensor(reference):
        import torch

        return torch.from_numpy(np.ascontiguousarray(out)).to(reference.device)
    return out


def _labels_from(arr: np.ndarray, is_scores: bool) -> np.ndarray:
    return np.ascontiguousarray(arr.argmax(axis=1).astype(np.int64)) if is_scores else arr


# ----------------------------------------------------------------------------------------------
# boundary refinement


def refine_by_boundaries(scores_or_labels: Any, boundary_prob: Any, *, threshold: float = 0.5, mask: Any = None,
                         reference: str | None = None, from_logits: bool | None = None,
                         peak_rule: str | None = None, ignore_index: int = -100, tie_break: str | None = None,
                         peaks: str | None = None) -> Any:
    r"""Relabel every span between two predicted boundaries with its majority class (ASRF refinement).

    ASRF (Ishikawa et al., WACV 2021), Sec. 3.3 / Fig. 3, ``PostProcessor("refinement_with_boundary")``;
    InterAct, Sec. 3.3 ("label smoothing strategy"). Per video, with frame labels
    :math:`\hat y_t = \arg\max_c s_{c,t}` and boundaries
    :math:`b_0 = 0 < b_1 < \dots < b_m` = ``find_peaks(boundary_prob, threshold, peak_rule=peak_rule)`` and
    :math:`b_{m+1} = T` (the valid length):

    .. math:: \tilde y_t = \arg\max_c \bigl|\{u \in [b_j, b_{j+1}) : \hat y_u = c\}\bigr|
              \quad\text{for } t \in [b_j, b_{j+1})

    Convention:
        - Ties between equally frequent classes (``reference=None``, default) go to the
          class with the largest summed probability over the span, then to the smallest class id.
          Probabilities are ``softmax`` over classes of the scores when they are logits
          (``from_logits=True``), the scores themselves when they are probabilities
          (``from_logits=False``); ``None`` decides per video: probabilities when every valid frame
          holds values in [0, 1] summing to 1 (``numpy.allclose`` tolerances).
        - ``reference="asrf"`` reproduces ASRF's rule: the largest **raw** score sum
          wins only if it is positive (strict ``>`` from 0, smallest class on equal sums); when all
          tied sums are <= 0 (negative logits) the label of the previous span is reused — the
          reference's loop variable, which also carries over from the previous video of the
          batch. Where the reference has no previous label it raises ``UnboundLocalError``; this
          raises ``ValueError``. Sums are accumulated in float64 (the reference sums float32).
        - Integer labels (no scores, ASRF's oracle experiment) break ties by the smallest class id.
        - Boundaries end at the **valid length** of each video. ASRF appends the padded length, so
          padded frames vote in the last span of a shorter video of a padded batch (a bug; its
          evaluation uses batch size 1). Padded frames get ``ignore_index``.
        - Frame labels are the first maximum of the scores; ASRF takes the argmax of a float32
          softmax, which equals it except where two scores round to the same probability.
        - ``boundary_prob`` must be probabilities. ASRF applies a sigmoid itself unless the whole
          array already lies in [0, 1] (a logit track inside [0, 1] is then misread); call
          ``torch.sigmoid`` first. ``threshold`` is compared in the dtype of ``boundary_prob``.
        - The reference's softmax of a batch of logits divides ``(N, C, T)`` by ``(N, T)``: it
          raises for ``N > 1`` (unless ``N == C``, where it silently mixes videos). Not reproduced.

    Args:
        scores_or_labels: ``(B, K, T)`` float class scores (logits or probabilities) or ``(B, T)``
            integer labels; one video: ``(K, T)`` or ``(T,)``. numpy, torch (any device) or sequence.
        boundary_prob: ``(B, T)`` or ``(B, 1, T)`` boundary probabilities in [0, 1]; ``(T,)`` for one video.
        threshold: boundary peaks below it are ignored (ASRF's ``boundary_th``; 0.5 in its configs).
        mask: optional ``(B, T)`` (or ``(B, 1, T)``) bool, ``True`` = valid frame.
        reference: ``None`` (ties by probability) or ``"asrf"`` (ASRF's tie rule, see above).
        from_logits: whether float scores are logits (see above); ``None`` = decide per video.
        peak_rule: ``"argrelmax"`` (ASRF, used when ``None``) or ``"plateau"`` (see :func:`find_peaks`);
            spans always start at frame 0.
        ignore_index: value written at padded frames.
        tie_break: deprecated (0.1): ``"probability"`` is ``reference=None``, ``"reference"`` is
            ``reference="asrf"`` (``DeprecationWarning``).
        peaks: deprecated spelling of ``peak_rule`` (0.1; ``DeprecationWarning``).

    Returns:
        ``(B, T)`` int64 refined labels (``(T,)`` for one video): numpy, or a tensor on the device of
        ``scores_or_labels`` for tensor input.

    Raises:
        ValueError: shapes disagree, ``boundary_prob`` outside [0, 1] or NaN, NaN scores, negative
            labels, an unresolved reference tie, bad option values.
        TypeError: wrong dtypes.

    Example:
        >>> import numpy as np
        >>> labels = np.array([0, 0, 1, 0, 2, 2, 1, 2])
        >>> prob = np.array([0.0, 0.1, 0.2, 0.1, 0.9, 0.3, 0.1, 0.0])
        >>> refine_by_boundaries(labels, prob).tolist()
        [0, 0, 0, 0, 2, 2, 2, 2]

    .. versionchanged:: 0.2.0
        ``tie_break=`` became ``reference=None | "asrf"`` and ``peaks=`` became ``peak_rule=`` (the old
        spellings warn until the next minor release); integer labels are renumbered densely, so the
        cost no longer grows with the largest label value.
    """
    from ._refine_kernels import (
        ERR_LABEL_NEGATIVE,
        ERR_PROB_RANGE,
        ERR_SCORE_NAN,
        ERR_TIE_UNRESOLVED,
        OK,
        TIE_PROBABILITY,
        TIE_REFERENCE,
        refine_labels,
        refine_scores,
    )

    reference = renamed(reference, tie_break, new="reference", old="tie_break", default=None,
                        convert=lambda v: None if choice(v, TIE_BREAKS, "tie_break") == "probability" else "asrf")
    choice(reference, REFERENCES, "reference")
    peak_rule = renamed(peak_rule, peaks, new="peak_rule", old="peaks", default="argrelmax")
    code = peak_rule_code(peak_rule)
    from_logits = _from_logits(from_logits)
    fill = index_value(ignore_index, "ignore_index")
    arr, is_scores, single = _scores_or_labels(scores_or_labels, "scores_or_labels")
    batch, length = arr.shape[0], arr.shape[-1]
    prob, prob_single = real_rows(boundary_prob, "boundary_prob", allow_3d=True)
    if single and not prob_single and prob.shape[0] == 1:
        prob_single = True
    expected = (length,) if single else (batch, length)
    if prob_single != single or prob.shape != (batch, length):
        got = prob.shape[1:] if prob_single else prob.shape
        raise ValueError(f"boundary_prob: expected shape {shape_str(expected)} (as scores_or_labels), "
                         f"got {shape_str(got)}")
    mask_arr = mask_rows(mask, (batch, length), single)
    thr = threshold_in(threshold, prob.dtype)
    out = np.full((batch, length), fill, dtype=np.int64)
    info = np.zeros(2, dtype=np.int64)
    if is_scores:
        logits = -1 if from_logits is None else int(from_logits)
        tie = TIE_PROBABILITY if reference is None else TIE_REFERENCE
        status = refine_scores(arr, prob, mask_arr, thr, code, tie, logits, out, info)
    else:
        dense, ids = _dense_labels(arr, mask_arr)  # cost follows the number of frames, not the label values
        status = refine_labels(dense, prob, mask_arr, thr, code, max(ids.size, 1), out, info)
        if status == OK and dense is not arr:
            out[mask_arr] = ids[out[mask_arr]]
    if status != OK:
        where = _where(info, single)
        if status == ERR_PROB_RANGE:
            value = prob[info[0], info[1]]
            raise ValueError(f"boundary_prob: expected probabilities in [0, 1] (apply a sigmoid to logits), "
                             f"got {value} at {where}")
        if status == ERR_SCORE_NAN:
            raise ValueError(f"scores_or_labels: expected finite scores, got NaN at {where}")
        if status == ERR_LABEL_NEGATIVE:
            value = arr[info[0], info[1]]
            raise ValueError(f"scores_or_labels: expected class ids >= 0 at valid frames, got {value} at {where}")
        if status == ERR_TIE_UNRESOLVED:
            raise ValueError(
                f"scores_or_labels: reference='asrf' found equally frequent classes whose summed scores "
                f"are all <= 0 in the span starting at {where}, and no previous span to take the label from "
                f"(the reference raises UnboundLocalError here); use reference=None"
            )
        raise RuntimeError(f"refine_by_boundaries: unexpected kernel status {status}")  # pragma: no cover
    return _like(out, scores_or_labels, single)


# ----------------------------------------------------------------------------------------------
# short-run relabelling


def relabel_short_segments(labels: Any, *, max_length: int = 15, mask: Any = None, reference: str | None = None,
                           ignore_index: int = -100) -> Any:
    r"""Give every run of at most ``max_length`` frames the label of the preceding longer run (ASRF ``relabeling``).

    ASRF (Ishikawa et al., WACV 2021), ``PostProcessor("relabeling", theta_t=15)``: an action
    segment shorter than :math:`\theta_t` frames is over-segmentation and takes the class of the
    segment before it.

    Convention:
        - Runs are maximal runs of one label over the valid frames, measured on the input; a run of
          ``<= max_length`` frames takes the label of the nearest preceding run longer than
          ``max_length`` (chains of short runs all take it, as in the reference).
        - Short runs at the start of the video (before any long run) take the label of the first
          long run. The reference copies the **last frame of the video** into a short first run
          (``preds[j - cnt - 1]`` with index -1). Without any long run nothing changes.
        - ``reference="asrf"`` reproduces the reference loop exactly, including its last-run quirk:
          after the loop it relabels ``[T-1-cnt, T-1)`` — one frame early, so the last frame keeps
          its label and the frame before a short last run is overwritten too — and its first-run
          rule. A single frame is returned unchanged (the reference raises ``UnboundLocalError``).
        - Padded frames are removed before the runs are formed and get ``ignore_index``.

    Args:
        labels: ``(B, T)`` or ``(T,)`` integer labels, or float scores ``(B, K, T)`` / ``(K, T)``
            (their argmax over classes is taken; NaN at a valid frame is a ``ValueError``).
        max_length: runs of at most this many frames are relabelled (ASRF's ``theta_t``), >= 0.
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        reference: ``None`` (default) or ``"asrf"``: reproduce ASRF's loop bit for bit (see above).
            ``True``/``False`` are deprecated spellings of ``"asrf"``/``None`` (0.1;
            ``DeprecationWarning``).
        ignore_index: value written at padded frames.

    Returns:
        int64 labels of shape ``(B, T)`` (``(T,)`` for one video), numpy or tensor as the input.

    Example:
        >>> relabel_short_segments([1, 1, 0, 0, 0, 0, 2, 0, 0, 0, 3, 3], max_length=2).tolist()
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        >>> relabel_short_segments([1, 1, 0, 0, 0, 0, 2, 0, 0, 0, 3, 3], max_length=2, reference="asrf").tolist()
        [3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]

    .. versionchanged:: 0.2.0
        ``reference`` takes ``None`` or ``"asrf"``; ``True``/``False`` warn until the next minor release.
    """
    from ._refine_kernels import ERR_LABEL_NEGATIVE, OK, relabel_batch

    max_length = size(max_length, "max_length", low=0)
    if isinstance(reference, (bool, np.bool_)):  # the 0.1 spelling reference: bool
        reference = renamed(None, reference, new="reference=\"asrf\" or None", old="reference=True/False",
                            default=None, convert=lambda v: "asrf" if v else None)
    choice(reference, REFERENCES, "reference")
    fill = index_value(ignore_index, "ignore_index")
    arr, is_scores, single = _scores_or_labels(labels, "labels")
    lab = _labels_from(arr, is_scores)
    mask_arr = mask_rows(mask, lab.shape, single)
    if is_scores:  # the argmax of a NaN column would silently be the NaN's class (refine_by_boundaries too)
        nan = np.argwhere(np.isnan(arr).any(axis=1) & mask_arr)
        if nan.size:
            raise ValueError(f"labels: expected finite scores, got NaN at {_where(nan[0], single)}")
    out = np.full(lab.shape, fill, dtype=np.int64)
    info = np.zeros(2, dtype=np.int64)
    status = relabel_batch(lab, mask_arr, max_length, reference == "asrf", out, info)
    if status == ERR_LABEL_NEGATIVE:
        raise ValueError(f"labels: expected class ids >= 0 at valid frames, got {lab[info[0], info[1]]} "
                         f"at {_where(info, single)}")
    assert status == OK
    return _like(out, labels, single)


# ----------------------------------------------------------------------------------------------
# Gaussian smoothing


def gaussian_kernel(kernel_size: int, sigma: float, *, normalize: bool = False, dtype: Any = None) -> Any:
    r"""The 1-D Gaussian filter of ASRF's ``GaussianSmoothing`` as a ``(kernel_size,)`` tensor.

    .. math:: g_i = \frac{1}{\sigma\sqrt{2\pi}} \exp\Bigl(-\frac{(i - (k-1)/2)^2}{2\sigma^2}\Bigr),
              \quad i = 0, \dots, k-1

    ASRF leaves the normalisation line commented out: the taps sum to the truncated, sampled
    density (``1 + 5e-9`` for ``k=15, sigma=1``; 0.883 for ``k=3``; 0.991 for ``k=5``; 0.988 for
    ``k=15, sigma=3``; 1.340 for ``sigma=0.3``). ``normalize=True`` divides by the sum. The argmax
    after smoothing does not depend on it; the smoothed scores do.
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    grid = torch.arange(kernel_size).to(dtype)
    mean = (kernel_size - 1) / 2
    kernel = 1 / (sigma * math.sqrt(2 * math.pi))
    kernel = kernel * torch.exp(-(((grid - mean) / sigma) ** 2) / 2)  # the reference's expression and order
    if normalize:
        kernel = kernel / kernel.sum()
    return kernel


def _mirror_index(length: int, pad: int, device: Any) -> Any:
    """Indices of ``[-pad, length + pad)`` reflected into ``[0, length)`` (whole-sample symmetry, repeated)."""
    import torch

    idx = torch.arange(-pad, length + pad, device=device)
    if length == 1:
        return torch.zeros_like(idx)
    period = 2 * (length - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= length, period - idx, idx)


def gaussian_smoothing(scores: Any, *, kernel_size: int = 15, sigma: float = 1.0, mask: Any = None,
                       from_logits: bool | None = None, normalize: bool = False, return_scores: bool = False,
                       ignore_index: int = -100) -> Any:
    r"""Smooth class probabilities over time with a Gaussian filter, then take the argmax (ASRF ``smoothing``).

    ASRF (Ishikawa et al., WACV 2021), ``PostProcessor("smoothing")`` with ``GaussianSmoothing``
    (``libs/transformer.py``): probabilities ``p`` (softmax of logits), reflect padding by
    ``(k-1)/2`` frames on each side, a depthwise 1-D convolution with :func:`gaussian_kernel`:

    .. math:: \tilde p_{c,t} = \sum_{i=0}^{k-1} g_i\, p_{c,\,r(t + i - (k-1)/2)},\qquad
              \tilde y_t = \arg\max_c \tilde p_{c,t}

    with :math:`r` the reflection at the first and last valid frame.

    Convention:
        - Computed with ``torch.nn.functional.conv1d`` in float32 (float64 input stays float64),
          one video at a time over its valid frames; padded frames get ``ignore_index``.
        - ``from_logits=None`` applies a softmax unless every valid frame already holds values in
          [0, 1] that sum to 1 (ASRF's test, without the range check). The softmax subtracts the
          per-frame maximum (the reference's ``exp(x) / sum(exp(x))`` overflows above ~88 in float32).
        - Videos with ``T <= (k-1)/2`` frames: the reflection repeats (``t -> -t``, ``t -> 2(T-1) - t``,
          periodic with period ``2(T-1)``); the reference's ``F.pad(mode="reflect")`` raises there.
        - ``kernel_size`` must be odd: ASRF pads ``(k-1)//2`` per side, so an even size returns
          ``T - 1`` frames.
        - ASRF's batch softmax has the ``(N, C, T) / (N, T)`` broadcasting bug (raises for N > 1;
          it also re-applies it after smoothing when the unnormalised filter breaks the sums);
          not reproduced: every video is processed alone.

    Args:
        scores: ``(B, K, T)`` or ``(K, T)`` float class scores (logits or probabilities), numpy or torch.
        kernel_size: odd filter length >= 1 (ASRF: 15).
        sigma: standard deviation in frames, > 0 (ASRF: 1).
        mask: optional ``(B, T)`` bool, ``True`` = valid frame.
        from_logits: whether ``scores`` are logits; ``None`` = decide per video (see above).
        normalize: divide the filter by its sum (ASRF does not; labels do not change).
        return_scores: also return the smoothed probabilities.
        ignore_index: label written at padded frames.

    Returns:
        ``(B, T)`` int64 labels (``(T,)`` for one video); with ``return_scores`` a tuple
        ``(labels, smoothed)`` where ``smoothed`` has the shape of ``scores`` (0 at padded frames).
        numpy in, numpy out; tensors stay on their device.

    Example:
        >>> import numpy as np
        >>> p = np.array([[0.9, 0.8, 0.4, 0.9, 0.9], [0.1, 0.2, 0.6, 0.1, 0.1]])
        >>> gaussian_smoothing(p, kernel_size=3).tolist()
        [0, 0, 0, 0, 0]
    """
    import torch
    import torch.nn.functional as F

    kernel_size = size(kernel_size, "kernel_size", high=MAX_KERNEL_SIZE)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size: expected an odd integer >= 1, got {kernel_size}")
    sigma = real(sigma, "sigma", low=0.0, low_open=True)
    from_logits = _from_logits(from_logits)
    normalize = flag(normalize, "normalize")
    return_scores = flag(return_scores, "return_scores")
    fill = index_value(ignore_index, "ignore_index")
    tensor_in = is_tensor(scores)
    x = as_tensor(scores, "scores")  # detached; numpy on the CPU; meta tensors are a TypeError
    if x.ndim not in (2, 3):
        raise ValueError(f"scores: expected shape (B, K, T) or (K, T), got {shape_str(x.shape)}")
    single = x.ndim == 2
    x = x[None] if single else x
    x = upcast_half(x)
    batch, n_classes, length = x.shape
    if n_classes == 0:
        got = shape_str(x.shape[1:] if single else x.shape)
        raise ValueError(f"scores: expected at least one class, got shape {got}")
    mask_arr = torch.from_numpy(mask_rows(mask, (batch, length), single)).to(x.device)
    elements(n_classes * (length + int(kernel_size) - 1), "kernel_size", "K·(T + kernel_size − 1) (a padded video)")
    kernel = gaussian_kernel(int(kernel_size), float(sigma), normalize=normalize, dtype=x.dtype).to(x.device)
    weight = kernel.view(1, 1, -1).repeat(n_classes, 1, 1)
    pad = (int(kernel_size) - 1) // 2
    labels = torch.full((batch, length), fill, dtype=torch.int64, device=x.device)
    smoothed = torch.zeros_like(x) if return_scores else None
    cpu = x.device.type == "cpu"
    for b in range(batch):
        idx = mask_arr[b].nonzero().flatten()
        n = idx.numel()
        if n == 0:
            continue
        prefix = bool(idx[-1] == n - 1)  # valid frames first: slices instead of gathers
        v = x[b, :, :n] if prefix else x[b][:, idx]
        if not bool(torch.isfinite(v.sum())) and not bool(torch.isfinite(v).all()):
            bad = int(idx[(~torch.isfinite(v)).any(0).nonzero()[0, 0]])
            where = f"frame {bad}" if single else f"batch element {b}, frame {bad}"
            raise ValueError(f"scores: expected finite values, got a non-finite value at {where}")
        logits = from_logits
        if logits is None:
            low, high = torch.aminmax(v)
            logits = not (bool(low >= 0) and bool(high <= 1)
                          and torch.allclose(v.sum(0), torch.ones((), dtype=v.dtype, device=v.device)))
        prob = torch.softmax(v, dim=0) if logits else v
        if pad < n:
            padded = F.pad(prob[None], (pad, pad), mode="reflect")
        else:
            padded = prob[None][:, :, _mirror_index(n, pad, x.device)]
        out = F.conv1d(padded, weight, groups=n_classes)[0]
        # numpy's argmax over the class axis is several times faster than torch's strided one on CPU
        best = torch.from_numpy(out.numpy().argmax(0)) if cpu else out.argmax(0)
        if prefix:
            labels[b, :n] = best
        else:
            labels[b, idx] = best
        if smoothed is not None:
            if prefix:
                smoothed[b, :, :n] = out
            else:
                smoothed[b][:, idx] = out
    if not tensor_in:
        labels_out: Any = labels.numpy()
        smoothed_out: Any = smoothed.numpy() if smoothed is not None else None
    else:
        labels_out, smoothed_out = labels, smoothed
    if single:
        labels_out = labels_out[0]
        smoothed_out = smoothed_out[0] if smoothed_out is not None else None
    return (labels_out, smoothed_out) if return_scores else labels_out
