"""Pure-PyTorch references for the (time-aware) SSD scan.

Shapes: x (B, L, H, P), dt (B, L, H), A (H,) negative, B and C (B, L, G, N) with H % G == 0
(head h reads group h // (H // G)), D (H,) | None, dt_bias (H,) | None, time_dt (B, L, H) | None.

    step_t = softplus(dt_t * time_dt_t + dt_bias)          (ssd_step_size_ref)
    h_t    = exp(step_t * A) h_{t-1} + step_t * x_t B_t^T   state (H, P, N), h_0 = 0
    y_t    = h_t C_t + D * x_t                              (B, L, H, P)

All references compute in float32 (float64 when given float64) and return x's dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ssd_step_size_ref(dt: torch.Tensor, dt_bias: torch.Tensor | None = None, time_dt: torch.Tensor | None = None,
                      dt_softplus: bool = True) -> torch.Tensor:
    """step (B, L, H) = softplus(dt * time_dt + dt_bias), each of time_dt / dt_bias / softplus optional."""
    step = dt.to(_compute_dtype(dt))
    if time_dt is not None:
        step = step * time_dt.to(step.dtype)
    if dt_bias is not None:
        step = step + dt_bias.to(step.dtype)
    if dt_softplus:
        step = F.softplus(step)
    return step


def check_ssd_shapes(x, dt, A, B, C, D=None, dt_bias=None, time_dt=None) -> None:
    """Raise ValueError naming the argument whose shape does not fit."""
    if x.dim() != 4:
        raise ValueError(f"ssd: x must be (B, L, H, P), got shape {tuple(x.shape)}")
    b, L, H, _ = x.shape
    if tuple(dt.shape) != (b, L, H):
        raise ValueError(f"ssd: dt must be (B, L, H) = {(b, L, H)}, got {tuple(dt.shape)}")
    if tuple(A.shape) != (H,):
        raise ValueError(f"ssd: A must be (H,) = ({H},), got {tuple(A.shape)}")
    if B.dim() != 4 or tuple(B.shape[:2]) != (b, L):
        raise ValueError(f"ssd: B must be (B, L, G, N) with B, L = {(b, L)}, got {tuple(B.shape)}")
    if tuple(C.shape) != tuple(B.shape):
        raise ValueError(f"ssd: C must have B's shape {tuple(B.shape)}, got {tuple(C.shape)}")
    if H % B.shape[2] != 0:
        raise ValueError(f"ssd: heads H={H} must be a multiple of groups G={B.shape[2]}")
    for name, t, shape in (("D", D, (H,)), ("dt_bias", dt_bias, (H,)), ("time_dt", time_dt, (b, L, H))):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"ssd: {name} must be {shape}, got {tuple(t.shape)}")


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def _prepare(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus):
    """Upcast, compute the step size and expand B, C from groups to heads: (B, L, H, N)."""
    check_ssd_shapes(x, dt, A, B, C, D, dt_bias, time_dt)
    cd = _compute_dtype(x)
    H = x.shape[2]
    rep = H // B.shape[2]
    step = ssd_step_size_ref(dt, dt_bias, time_dt, dt_softplus).to(cd)
    Bh = B.to(cd).repeat_interleave(rep, dim=2)
    Ch = C.to(cd).repeat_interleave(rep, dim=2)
    return x.to(cd), step, A.to(cd), Bh, Ch


def _skip(y: torch.Tensor, x: torch.Tensor, D: torch.Tensor | None) -> torch.Tensor:
    if D is not None:
        y = y + D.to(y.dtype)[:, None] * x
    return y


def _segsum_decay(cs: torch.Tensor) -> torch.Tensor:
    """cs (..., T, H) cumulative log-decay -> (..., H, T, T) with [i, j] = exp(cs_i - cs_j) for j <= i, else 0."""
    T = cs.shape[-2]
    c = cs.transpose(-1, -2)  # (..., H, T)
    seg = c[..., :, None] - c[..., None, :]
    mask = torch.ones(T, T, dtype=torch.bool, device=cs.device).tril()
    return torch.exp(seg.masked_fill(~mask, float("-inf")))


def ssd_step_ref(x, dt, A, B, C, D=None, dt_bias=None, time_dt=None, dt_softplus=True) -> torch.Tensor:
    """The recurrence one time step at a time (slow; for tests). Returns y (B, L, H, P)."""
    xc, step, Ac, Bh, Ch = _prepare(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    b, L, H, P = xc.shape
    state = xc.new_zeros(b, H, P, Bh.shape[-1])
    ys = []
    for t in range(L):
        decay = torch.exp(step[:, t] * Ac)  # (B, H)
        inp = (step[:, t, :, None] * xc[:, t])[..., None] * Bh[:, t, :, None, :]  # (B, H, P, N)
        state = decay[..., None, None] * state + inp
        ys.append(torch.einsum("bhpn,bhn->bhp", state, Ch[:, t]))
    y = torch.stack(ys, dim=1) if ys else xc.new_zeros(b, 0, H, P)
    return _skip(y, xc, D).to(x.dtype)


def ssd_quadratic_ref(x, dt, A, B, C, D=None, dt_bias=None, time_dt=None, dt_softplus=True) -> torch.Tensor:
    """Masked-matrix form: y_i = sum_{j<=i} (C_i . B_j) exp(A sum_{k=j+1..i} step_k) step_j x_j + D x_i."""
    xc, step, Ac, Bh, Ch = _prepare(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    cs = torch.cumsum(step * Ac, dim=1)  # (B, L, H)
    decay = _segsum_decay(cs)  # (B, H, L, L)
    scores = torch.einsum("bihn,bjhn->bhij", Ch, Bh) * decay
    y = torch.einsum("bhij,bjh,bjhp->bihp", scores, step, xc)
    return _skip(y, xc, D).to(x.dtype)


def ssd_chunked_ref(x, dt, A, B, C, D=None, dt_bias=None, time_dt=None, dt_softplus=True,
                    chunk_size: int = 32) -> torch.Tensor:
    """Chunked SSD: quadratic form inside chunks of ``chunk_size``, states passed between chunks.

    Any L (the tail is zero-padded: step 0 there, so it neither decays nor feeds the state). Differentiable.
    """
    if chunk_size < 1:
        raise ValueError(f"ssd: chunk_size must be >= 1, got {chunk_size}")
    xc, step, Ac, Bh, Ch = _prepare(x, dt, A, B, C, D, dt_bias, time_dt, dt_softplus)
    b, L, H, P = xc.shape
    if L == 0:
        return x.new_zeros(x.shape)
    Q = chunk_size
    nc = -(-L // Q)
    pad = nc * Q - L

    def chunks(t):  # (B, L, ...) -> (B, nc, Q, ...)
        t = F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
        return t.reshape(b, nc, Q, *t.shape[2:])

    xq, sq, Bq, Cq = chunks(xc), chunks(step), chunks(Bh), chunks(Ch)
    cs = torch.cumsum(sq * Ac, dim=2)  # (B, nc, Q, H) log-decay from chunk start
    # 1. inside each chunk
    decay = _segsum_decay(cs)  # (B, nc, H, Q, Q)
    scores = torch.einsum("bcihn,bcjhn->bchij", Cq, Bq) * decay
    y_diag = torch.einsum("bchij,bcjh,bcjhp->bcihp", scores, sq, xq)
    # 2. each chunk's own contribution to the state at its end
    to_end = torch.exp(cs[:, :, -1:, :] - cs)  # (B, nc, Q, H)
    chunk_states = torch.einsum("bcjh,bcjhp,bcjhn->bchpn", to_end * sq, xq, Bq)
    # 3. states entering each chunk: h_in[c] = sum_{c' < c} exp(total decay of chunks c'+1..c-1) S[c']
    totals = cs[:, :, -1, :]  # (B, nc, H)
    ctot = F.pad(torch.cumsum(totals, dim=1), (0, 0, 1, 0))  # (B, nc+1, H), ctot[c] = sum of chunks < c
    # (B, H, nc, nc): [c, c'] = exp(ctot[c] - ctot[c'+1]) where c'+1 <= c, else 0
    chunk_decay = _segsum_decay(ctot)[..., :-1, 1:]
    states_in = torch.einsum("bhcd,bdhpn->bchpn", chunk_decay, chunk_states)
    # 4. the entering state's output inside each chunk
    y_off = torch.einsum("bcihn,bchpn,bcih->bcihp", Cq, states_in, torch.exp(cs))
    y = (y_diag + y_off).reshape(b, nc * Q, H, P)[:, :L]
    return _skip(y, xc, D).to(x.dtype)
