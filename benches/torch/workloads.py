"""Our PyTorch rendering of the benchmark workloads W1-W4, for side-by-side timing with the
Rust benches (`benches/torch/compare.sh` runs both in one session).

Same shapes, same supernets, same superposition as tangle-core, written the way a PyTorch user
writes a weight-entangled supernet (the official TangleNAS code's approach): every decision's
mixture weights build a mask over the largest weight, `W_mix = W * M` with
`M = sum_i w_i pad(1[slice_i])`, then ONE forward pass at the largest shape; depth mixes block
outputs; LayerNorm over a mixed width is the weighted sum of the candidates' LayerNorms.

* W1  AutoFormer-T supernet step: 32x32x3, patch 4 (65 tokens), batch 32, 10 classes, embed
      {192, 216, 240}, depth {12, 13, 14}, heads {3, 4} x 64, MLP ratio {3.5, 4}, 2-D relative
      positions (max distance 14); softmax mixtures; SGD step.
* W2  toy conv-macro supernet step (Table 17): batch 64, 32x32x3; SGD step.
* W3  nanoGPT supernet step (Table 18): batch 12, context 224, vocabulary 65, heads splitting
      the embedding; SGD step.
* W4  the main job's bi-level DrNAS step at its default sizes: AutoFormer-T with depth
      {2, 3, 4}, patch 8 on 32x32x3 (17 tokens), batch 32: an alpha pass (Dirichlet sample,
      forward, backward, Adam on alpha) then a weight pass (a new sample, forward, backward,
      AdamW on the weights).

Each W1-W3 workload has a `largest` variant (the largest fixed network, no masks) and a
`superposed` one. Prints one JSON line per variant: the step times and their median (ms).

    python3 benches/torch/workloads.py --workload w1 --rounds 10
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def prefix(sizes, n):
    """[k, n] rows of ones over each candidate's prefix."""
    idx = torch.arange(n)
    return torch.stack([(idx < s).float() for s in sizes])


def mix_prefix(w, sizes, n):
    """sum_i w_i 1[:s_i] as an [n] vector (w None: the largest, all ones)."""
    if w is None:
        return None
    return w @ prefix(sizes, n)


def hidden_mask(embeds, ratios, we, wr):
    """An MLP's hidden units (fc1's rows, fc2's columns): sum_ij we_i wr_j 1[:e_i r_j]."""
    n = int(embeds[-1] * max(ratios))
    masks = torch.stack([prefix([int(e * r) for r in ratios], n) for e in embeds])  # [ne, nr, n]
    return torch.einsum("i,j,ijn->n", we, wr, masks)


def run_blocks(net, x, w, we, me, depths):
    """Runs `net.blocks` (each reading its heads and ratio mixtures from `w`) and mixes the
    outputs after each candidate depth with the depth mixture `w[1]` (None: the largest)."""
    outs = []
    for i, b in enumerate(net.blocks):
        wh = None if w is None else w[2 + 2 * i]
        wr = None if w is None else w[3 + 2 * i]
        x = net.block(b, x, we, wh, wr, me)
        if i + 1 in depths:
            outs.append(x)
    return outs[-1] if w is None else sum(w[1][j] * o for j, o in enumerate(outs))


class MixedLN(nn.Module):
    """LayerNorm over a mixed width: sum_i w_i pad(LN_i(x[..., :e_i]))."""

    def __init__(self, dims):
        super().__init__()
        self.dims = dims
        self.ln = nn.LayerNorm(dims[-1])

    def forward(self, x, w):
        if w is None:
            return self.ln(x)
        out = 0
        for i, e in enumerate(self.dims):
            y = F.layer_norm(x[..., :e], (e,), self.ln.weight[:e], self.ln.bias[:e], 1e-5)
            out = out + w[i] * F.pad(y, (0, self.dims[-1] - e))
        return out


class RelPos2d(nn.Module):
    """AutoFormer's 2-D relative position tables, gathered to [t, t, d]."""

    def __init__(self, d, max_distance, tokens):
        super().__init__()
        self.v = nn.Parameter(torch.randn(2 * max_distance + 2, d) * 0.02)
        self.h = nn.Parameter(torch.randn(2 * max_distance + 2, d) * 0.02)
        side = int(round(math.sqrt(tokens - 1)))
        iv = torch.zeros(tokens, tokens, dtype=torch.long)
        ih = torch.zeros(tokens, tokens, dtype=torch.long)
        m = max_distance
        for i in range(1, tokens):
            for j in range(1, tokens):
                p, q = i - 1, j - 1
                iv[i, j] = max(-m, min(m, q // side - p // side)) + m + 1
                ih[i, j] = max(-m, min(m, q % side - p % side)) + m + 1
        self.register_buffer("iv", iv)
        self.register_buffer("ih", ih)

    def forward(self):
        return self.v[self.iv] + self.h[self.ih]


class AutoFormer(nn.Module):
    """The AutoFormer supernet (head dim fixed at 64, qkv rows head-major)."""

    def __init__(self, embeds, depths, ratios, heads, image=32, patch=4, classes=10, rel=14):
        super().__init__()
        self.embeds, self.depths, self.ratios, self.heads = embeds, depths, ratios, heads
        self.d = 64
        E, H, R = embeds[-1], heads[-1], max(ratios)
        self.tokens = (image // patch) ** 2 + 1
        self.patch = nn.Conv2d(3, E, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, E) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, self.tokens, E) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(depths[-1]):
            b = nn.Module()
            b.ln1, b.ln2 = MixedLN(embeds), MixedLN(embeds)
            b.qkv = nn.Linear(E, 3 * H * self.d)
            b.proj = nn.Linear(H * self.d, E)
            b.fc1 = nn.Linear(E, int(E * R))
            b.fc2 = nn.Linear(int(E * R), E)
            b.rel_k = RelPos2d(self.d, rel, self.tokens)
            b.rel_v = RelPos2d(self.d, rel, self.tokens)
            self.blocks.append(b)
        self.norm = MixedLN(embeds)
        self.head = nn.Linear(E, classes)
        self.n_dec = 2 + 2 * depths[-1]  # embed, depth, then heads and ratio per block

    def block(self, b, x, we, wh, wr, me):
        B, T, E = x.shape
        H, d = self.heads[-1], self.d
        h = b.ln1(x, we)
        if me is None:
            qkv = b.qkv(h)
        else:
            qkv = F.linear(h, b.qkv.weight * me[None, :], b.qkv.bias)
        q, k, v = qkv.view(B, T, H, 3, d).permute(3, 0, 2, 1, 4)
        rk, rv = b.rel_k(), b.rel_v()
        att = (q @ k.transpose(-2, -1) + torch.einsum("bhtd,tsd->bhts", q, rk)) / math.sqrt(d)
        att = att.softmax(-1)
        o = att @ v + torch.einsum("bhts,tsd->bhtd", att, rv)
        o = o.transpose(1, 2).reshape(B, T, H * d)
        if me is None:
            x = x + b.proj(o)
        else:
            mh = mix_prefix(wh, [c * d for c in self.heads], H * d)
            x = x + F.linear(o, b.proj.weight * (me[:, None] * mh[None, :]), b.proj.bias * me)
        h = b.ln2(x, we)
        if me is None:
            return x + b.fc2(F.gelu(b.fc1(h)))
        mr = hidden_mask(self.embeds, self.ratios, we, wr)
        y = F.gelu(F.linear(h, b.fc1.weight * (mr[:, None] * me[None, :]), b.fc1.bias * mr))
        return x + F.linear(y, b.fc2.weight * (me[:, None] * mr[None, :]), b.fc2.bias * me)

    def forward(self, x, w):
        """`w`: the mixtures [embed, depth, heads_0, ratio_0, ...], or None (largest)."""
        E = self.embeds[-1]
        we = None if w is None else w[0]
        me = mix_prefix(we, self.embeds, E)
        if me is None:
            z = self.patch(x)
        else:
            z = F.conv2d(x, self.patch.weight * me[:, None, None, None], self.patch.bias * me,
                         stride=self.patch.stride)
        z = z.flatten(2).transpose(1, 2)
        cls, pos = self.cls, self.pos
        if me is not None:
            cls, pos = cls * me, pos * me
        z = torch.cat([cls.expand(z.shape[0], -1, -1), z], 1) + pos
        z = run_blocks(self, z, w, we, me, self.depths)
        z = self.norm(z[:, 0], we)
        if me is None:
            return self.head(z)
        return F.linear(z, self.head.weight * me[None, :], self.head.bias)

    def decisions(self):
        n = [len(self.embeds), len(self.depths)]
        for _ in range(self.depths[-1]):
            n += [len(self.heads), len(self.ratios)]
        return n


class ConvMacro(nn.Module):
    """Table 17's conv-macro supernet: 5 convs (channels x kernel superposed), 4 linears."""

    WIDTHS = [[8, 16, 32], [16, 32, 64], [32, 64, 128], [64, 128, 256]]
    KERNELS = [3, 5, 7]

    def __init__(self):
        super().__init__()
        ins = [3, 32, 64, 128]
        self.convs = nn.ModuleList(
            [nn.Conv2d(i, w[-1], 7, padding=3) for i, w in zip(ins, self.WIDTHS)]
            + [nn.Conv2d(256, 256, 7, padding=2)]
        )
        for c in self.convs:
            nn.init.kaiming_normal_(c.weight)
        dims = [9216, 256, 128, 64, 10]
        self.fcs = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims, dims[1:])])

    def kernel_mask(self, w):
        m = torch.zeros(3, 7, 7)
        for i, k in enumerate(self.KERNELS):
            o = (7 - k) // 2
            m[i, o:o + k, o:o + k] = 1
        return torch.einsum("i,ikl->kl", w, m)

    def conv(self, i, x, w):
        c = self.convs[i]
        if w is None:
            return c(x)
        out_n, in_n = c.weight.shape[:2]
        mo = mix_prefix(w[2 * i], self.WIDTHS[i], out_n) if i < 4 else torch.ones(out_n)
        mi = mix_prefix(w[2 * (i - 1)], self.WIDTHS[i - 1], in_n) if i > 0 else torch.ones(in_n)
        mk = self.kernel_mask(w[2 * i + 1]) if i < 4 else torch.ones(7, 7)
        m = mo[:, None, None, None] * mi[None, :, None, None] * mk[None, None]
        return F.conv2d(x, c.weight * m, c.bias * mo, padding=c.padding)

    def forward(self, x, w):
        """`w`: [channels_1, kernel_1, ..., channels_4, kernel_4], or None (largest)."""
        x = F.relu(self.conv(0, x, w))
        x = F.max_pool2d(F.relu(self.conv(1, x, w)), 2)
        x = F.max_pool2d(F.dropout2d(F.relu(self.conv(2, x, w)), 0.5, self.training), 2)
        x = F.relu(self.conv(3, x, w))
        x = F.dropout2d(F.relu(self.conv(4, x, w)), 0.5, self.training)
        h = x.flatten(1)
        for i, fc in enumerate(self.fcs):
            h = fc(h)
            if i + 1 < len(self.fcs):
                h = F.relu(h)
        return h

    def decisions(self):
        return [3] * 8


class Gpt(nn.Module):
    """Table 18's nanoGPT supernet: heads split the embedding; causal; tied head."""

    def __init__(self, embeds, heads, ratios, layers, vocab=65, context=224):
        super().__init__()
        self.embeds, self.heads, self.ratios, self.layers = embeds, heads, ratios, layers
        E = embeds[-1]
        self.wte = nn.Embedding(vocab, E)
        self.wpe = nn.Embedding(context, E)
        self.blocks = nn.ModuleList()
        for _ in range(layers[-1]):
            b = nn.Module()
            b.ln1, b.ln2 = MixedLN(embeds), MixedLN(embeds)
            b.qkv = nn.Linear(E, 3 * E)
            b.proj = nn.Linear(E, E)
            b.fc1 = nn.Linear(E, int(E * max(ratios)))
            b.fc2 = nn.Linear(int(E * max(ratios)), E)
            self.blocks.append(b)
        self.ln_f = MixedLN(embeds)
        self.causal = torch.triu(torch.ones(context, context, dtype=torch.bool), 1)
        self.layouts = {h: self.head_layouts(h) for h in heads}

    def head_layouts(self, h):
        """Per candidate embed, the [blocks x blocks] map from its head layout to the widest."""
        widths = [e // h for e in self.embeds]
        dmax = widths[-1]
        blk = math.gcd(*widths)
        nbk = h * dmax // blk
        p = torch.zeros(len(widths), nbk, nbk)
        for i, d in enumerate(widths):
            for j in range(h):
                for q in range(d // blk):
                    p[i, j * dmax // blk + q, j * d // blk + q] = 1
        return p, blk

    def attend(self, q, k, v, h, scale):
        B, T, W = q.shape
        part = lambda z: z.view(B, T, h, W // h).transpose(1, 2)  # noqa: E731
        att = (part(q) @ part(k).transpose(-2, -1)) * scale
        att = att.masked_fill(self.causal[:T, :T], float("-inf")).softmax(-1)
        return (att @ part(v)).transpose(1, 2).reshape(B, T, W)

    def block(self, b, x, we, wh, wr, me):
        B, T, E = x.shape
        h = b.ln1(x, we)
        if we is None:
            q, k, v = b.qkv(h).split(E, 2)
            o = self.attend(q, k, v, self.heads[-1], 1 / math.sqrt(E // self.heads[-1]))
            x = x + b.proj(o)
            return x + b.fc2(F.gelu(b.fc1(b.ln2(x, we))))
        m3 = me.repeat(3)
        q, k, v = F.linear(h, b.qkv.weight * (m3[:, None] * me[None, :]), b.qkv.bias * m3).split(E, 2)
        o = 0
        for j, nh in enumerate(self.heads):
            p, blk = self.layouts[nh]
            mix = torch.einsum("i,ikl->kl", we, p)
            nbk = E // blk
            lay = lambda m, z: (m @ z.reshape(B * T, nbk, blk)).reshape(B, T, E)  # noqa: E731
            scale = sum(we[i] / math.sqrt(e // nh) for i, e in enumerate(self.embeds))
            oj = self.attend(lay(mix * scale, q), lay(mix, k), lay(mix, v), nh, 1.0)
            o = o + wh[j] * lay(mix.t(), oj)
        x = x + F.linear(o, b.proj.weight * (me[:, None] * me[None, :]), b.proj.bias * me)
        mr = hidden_mask(self.embeds, self.ratios, we, wr)
        y = F.gelu(F.linear(b.ln2(x, we), b.fc1.weight * (mr[:, None] * me[None, :]), b.fc1.bias * mr))
        return x + F.linear(y, b.fc2.weight * (me[:, None] * mr[None, :]), b.fc2.bias * me)

    def forward(self, ids, w):
        """`w`: [embed, layers, heads_0, ratio_0, ...], or None (largest)."""
        we = None if w is None else w[0]
        me = mix_prefix(we, self.embeds, self.embeds[-1])
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe.weight[:T]
        if me is not None:
            x = x * me
        x = run_blocks(self, x, w, we, me, self.layers)
        x = self.ln_f(x, we)
        table = self.wte.weight if me is None else self.wte.weight * me
        return x @ table.t()

    def decisions(self):
        n = [len(self.embeds), len(self.layers)]
        for _ in range(self.layers[-1]):
            n += [len(self.heads), len(self.ratios)]
        return n


def softmax_mixtures(alphas):
    return [a.softmax(0) for a in alphas]


def dirichlet_mixtures(alphas):
    # DrNAS: a reparameterized Dirichlet sample of elu(alpha) + 1 per decision.
    return [torch.distributions.Dirichlet(F.elu(a) + 1).rsample() for a in alphas]


def sgd_stepper(net, x, y, superposed, loss_fn):
    alphas = [(1e-3 * torch.randn(n)).requires_grad_() for n in net.decisions()]
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step():
        w = softmax_mixtures(alphas) if superposed else None
        loss = loss_fn(net(x, w), y)
        opt.zero_grad(set_to_none=True)
        for a in alphas:
            a.grad = None
        loss.backward()
        opt.step()

    step()  # the first step allocates; not timed
    return step


def bilevel_stepper(net, batches):
    """W4: DrNAS's alpha pass (Adam 3e-3, betas (0.5, 0.999), weight decay 1e-3 as the engine's
    default) then the weight pass (AdamW 5e-4, weight decay 0.05, as the main job)."""
    alphas = [(1e-3 * torch.randn(n)).requires_grad_() for n in net.decisions()]
    arch_opt = torch.optim.Adam(alphas, lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3, eps=1e-8)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-4, weight_decay=0.05, eps=1e-8)
    (xt, yt), (xv, yv) = batches

    def step():
        # alpha pass: gradients into alpha only (the weights' are computed and discarded, as
        # autograd does in the reference code too).
        loss = F.cross_entropy(net(xv, dirichlet_mixtures(alphas)), yv)
        arch_opt.zero_grad(set_to_none=True)
        loss.backward()
        arch_opt.step()
        # weight pass under a fresh sample.
        loss = F.cross_entropy(net(xt, [m.detach() for m in dirichlet_mixtures(alphas)]), yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    return step


def workload(name):
    torch.manual_seed(0)
    ce = lambda out, y: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # noqa: E731
    if name == "w1":
        x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
        net = lambda: AutoFormer([192, 216, 240], [12, 13, 14], [3.5, 4.0], [3, 4])  # noqa: E731
        return [("largest", sgd_stepper(net(), x, y, False, ce)),
                ("superposed", sgd_stepper(net(), x, y, True, ce))]
    if name == "w2":
        x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
        return [("largest", sgd_stepper(ConvMacro(), x, y, False, ce)),
                ("superposed", sgd_stepper(ConvMacro(), x, y, True, ce))]
    if name == "w3":
        ids = torch.randint(0, 65, (12, 225))
        x, y = ids[:, :-1], ids[:, 1:]
        net = lambda: Gpt([384, 576, 768], [6, 8, 12], [2.0, 3.0, 4.0], [5, 6, 7])  # noqa: E731
        return [("largest", sgd_stepper(net(), x, y, False, ce)),
                ("superposed", sgd_stepper(net(), x, y, True, ce))]
    if name == "w4":
        batch = lambda: (torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,)))  # noqa: E731
        net = AutoFormer([192, 216, 240], [2, 3, 4], [3.5, 4.0], [3, 4], patch=8)
        return [("bilevel", bilevel_stepper(net, (batch(), batch())))]
    raise SystemExit(f"--workload {name}: expected w1, w2, w3 or w4")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", required=True, choices=["w1", "w2", "w3", "w4"])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    steps = workload(a.workload)
    times = {name: [] for name, _ in steps}
    # Interleaved: one step of each variant in turn, so every variant sees the same machine.
    for _ in range(a.rounds):
        for name, step in steps:
            t = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - t) * 1e3)
    for name, t in times.items():
        s = sorted(t)
        print(json.dumps({
            "impl": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "workload": a.workload, "variant": name, "median_ms": s[len(s) // 2],
            "steps_ms": [round(v, 1) for v in t],
        }))


if __name__ == "__main__":
    main()
