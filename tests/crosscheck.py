#!/usr/bin/env python3
"""Differential test: the einc CLI against numpy.einsum and einops.

    python3 tests/crosscheck.py [PATH/TO/einc]

Cases are drawn from numpy's own einsum tests (numpy/_core/tests/test_einsum.py) and from
einops' tests (einops/tests/test_ops.py, test_einsum.py).  For every case the script writes
random inputs as .npy files, runs `einc run EXPR [AXIS=N ...] IN.npy ... -o OUT.npy`, and
compares shape, dtype and values with the reference.  A second table holds inputs that
numpy/einops reject: einc must exit non-zero, print 'einc: error: ...' on stderr and leave the
-o file alone.

Prints one line per failure and ends with `N passed, M failed`; exit 0 when M == 0, 1
otherwise, 77 (meson's "skipped") when numpy or einops is not importable.
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor

try:
    import numpy as np
    import einops
except Exception:  # noqa: BLE001 - any import problem means "skip"
    print("crosscheck: numpy or einops not importable; skipped")
    sys.exit(77)

def _default_einc():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for c in ("/work/main/build/runtime/einc", os.path.join(root, "build", "runtime", "einc"),
              os.path.join(root, "build", "einc")):
        if os.path.isfile(c):
            return c
    return "/work/main/build/runtime/einc"


EINC = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else _default_einc())

F32, F64, I32, I64, BOOL = (np.dtype(t) for t in ("float32", "float64", "int32", "int64", "bool"))
ALL5 = (F64, F32, I32, I64, BOOL)
NUM4 = (F64, F32, I32, I64)
FLOATS = (F64, F32)

RNG = np.random.default_rng(20240611)
REDUCE_OPS = ("sum", "mean", "max", "min", "prod")
POISON = b"einc-crosscheck: this file must not be touched\n"


# --------------------------------------------------------------------------- input data

def make_input(shape, dtype, style="plain"):
    """Random, zero-free data (comparisons never rest on zeros).

    style 'prod': values are +-1 with at most 8 entries of +-2, so any product is an exact
    power of two (|p| <= 256) in every dtype."""
    shape = tuple(shape)
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == BOOL:
        return RNG.random(shape) < 0.5
    if style == "prod":
        v = RNG.choice(np.array([-1, 1]), size=n).astype(np.float64)
        if n:
            idx = RNG.choice(n, size=min(8, n), replace=False)
            v[idx] *= 2
        return v.reshape(shape).astype(dtype)
    if dtype.kind == "i":
        v = RNG.integers(1, 4, size=shape) * RNG.choice(np.array([-1, 1]), size=shape)
        return np.asarray(v).astype(dtype)
    v = RNG.uniform(0.5, 2.0, size=shape) * RNG.choice(np.array([-1.0, 1.0]), size=shape)
    return np.asarray(v).astype(dtype)


# --------------------------------------------------------------------------- cases

class Case:
    def __init__(self, desc, expr, inputs, sizes=None, reduce=None):
        self.desc = desc
        self.expr = expr
        self.inputs = inputs
        self.sizes = dict(sizes or {})
        self.reduce = reduce
        self.expected = None      # ndarray (valid case)
        self.tol = None           # per-element absolute tolerance (floats), or None = exact
        self.error = False        # True: einc must reject
        self.ref_error = None     # for error cases: message when the reference did NOT raise

    def argv(self, out, files, variant=0):
        """The command line; `variant` moves the options around (GNU style: options may come
        before or after the expression)."""
        opts = ["--reduce=" + self.reduce] if self.reduce else []
        pos = [self.expr] + ["%s=%d" % kv for kv in self.sizes.items()] + list(files)
        if self.expr.startswith("-"):
            return ["run"] + opts + ["-o", out, "--"] + pos
        if variant == 1:
            return ["run"] + pos + opts + ["-o", out]
        if variant == 2:
            return ["run", "-o", out] + opts + pos
        return ["run"] + opts + pos + ["-o", out]

    def label(self, argv):
        words = [shlex.quote(w) for w in ["einc"] + argv]
        ins = ", ".join("IN%d.npy: %s%s" % (i, a.dtype, list(a.shape))
                        for i, a in enumerate(self.inputs))
        return " ".join(words) + "   [" + ins + "]"


CASES = []


def rtol_for(dtype):
    return {F32: 1e-5, F64: 1e-12}.get(dtype)


def finish_linear(case, ref_fn, count_fn=None, mag_fn=None):
    """Expected value from ref_fn(inputs); tolerance rtol * K * |magnitude| for floats, where K is
    the number of terms reduced into an element (count_fn on all-ones float64 inputs) and the
    magnitude is ref_fn on |inputs| in float64 (a bound on the partial sums)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = np.asarray(ref_fn(case.inputs))
        case.expected = exp
        rt = rtol_for(exp.dtype)
        if rt is None:
            return
        f64 = [np.abs(a.astype(np.float64)) for a in case.inputs]
        ones = [np.ones(a.shape, np.float64) for a in case.inputs]
        cnt = np.asarray((count_fn or ref_fn)(ones), dtype=np.float64)
        k = max(1.0, float(cnt.max())) if cnt.size else 1.0
        mag = np.abs(np.asarray((mag_fn or ref_fn)(f64), dtype=np.float64))
        mag = np.where(np.isfinite(mag), mag, 0.0)
        case.tol = rt * k * mag + 1e-30


def add_np(expr, shapes, dtypes=ALL5, reduce=None, style="plain", desc=None):
    """numpy-dialect case, run once per dtype (a dtype may be a tuple, one per operand)."""
    for dt in dtypes:
        dts = dt if isinstance(dt, tuple) else (dt,) * len(shapes)
        ins = [make_input(s, d, style) for s, d in zip(shapes, dts)]
        c = Case(desc or "numpy", expr, ins, reduce=reduce)
        if reduce in (None, "sum"):
            finish_linear(c, lambda xs, e=expr: np.einsum(e, *xs))
        else:
            finish_linear(c, lambda xs, e=expr, op=reduce: np_reduce_ref(e, xs[0], op),
                          count_fn=lambda xs, e=expr: np_reduce_ref(e, xs[0], "sum"),
                          mag_fn=(lambda xs, e=expr: np_reduce_ref(e, xs[0], "mean"))
                          if reduce == "mean" else None)
        CASES.append(c)


def np_reduce_ref(expr, a, op):
    """numpy dialect, one operand, --reduce=op: take diagonals of repeated labels, then numpy's
    op over the labels the output drops, then order as the output."""
    expr = expr.replace(" ", "")
    if "->" in expr:
        lhs, rhs = expr.split("->")
    else:
        lhs, rhs = expr, None
    used = set(c for c in lhs if c.isalpha())
    pool = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    nlab = len(lhs.replace("...", ""))
    ell = "".join(pool[: a.ndim - nlab]) if "..." in lhs else ""
    lhs = lhs.replace("...", ell)
    if rhs is None:
        once = sorted(c for c in set(lhs) if lhs.count(c) == 1 and c not in ell)
        rhs = ell + "".join(once)
    else:
        rhs = rhs.replace("...", ell)
    uniq = "".join(dict.fromkeys(lhs))
    diag = np.einsum(lhs + "->" + uniq, a)
    dropped = tuple(i for i, c in enumerate(uniq) if c not in rhs)
    kept = [c for c in uniq if c in rhs]
    r = getattr(np, op)(diag, axis=dropped)
    r = np.asarray(r)
    return np.transpose(r, [kept.index(c) for c in rhs]) if r.ndim else r


def letters_shapes(expr, sizes):
    ops = expr.split("->")[0].split(",")
    return [tuple(sizes[c] for c in op) for op in ops]


def einops_one(kind, pattern, x, sizes, op):
    if kind == "rearrange":
        return einops.rearrange(x, pattern, **sizes)
    if kind == "repeat":
        return einops.repeat(x, pattern, **sizes)
    if op == "mean" and x.dtype.kind in "bi":   # numpy's mean of ints: float64
        x = x.astype(np.float64)
    return einops.reduce(x, pattern, op, **sizes)


def add_eo(kind, pattern, shape, sizes=None, dtypes=ALL5, ops=None, reduce_flag=True):
    """einops-dialect case with one operand: rearrange / reduce (once per op) / repeat."""
    sizes = dict(sizes or {})
    oplist = ops or ((REDUCE_OPS) if kind == "reduce" else (None,))
    for op in oplist:
        for dt in dtypes:
            style = "prod" if op == "prod" else "plain"
            x = make_input(shape, dt, style)
            flag = op if (kind == "reduce" and (op != "sum" or reduce_flag)) else None
            c = Case("einops." + kind, pattern, [x], sizes, reduce=flag)
            ref = lambda xs, k=kind, p=pattern, o=op or "sum": einops_one(k, p, xs[0], sizes, o)
            if kind == "reduce":
                n_out = np.asarray(einops_one(kind, pattern, np.ones(shape), sizes, "sum")).size
                k_terms = x.size // max(1, n_out) if x.size else 1
                cnt = lambda xs, kt=k_terms: np.full(1, float(kt))
                mag = None
                if op in ("max", "min", "prod"):
                    mag = lambda xs, r=ref: np.abs(r(xs))   # exact ops: tolerance ~ |result|
                finish_linear(c, ref, count_fn=cnt, mag_fn=mag)
            else:
                finish_linear(c, ref)
            CASES.append(c)


def eo_einsum_ref(pattern, xs, sizes, pre=None, post=None):
    """einops.einsum; `pre` = list of (operand index, decomposing rearrange pattern) applied
    first, `post` = a repeat/rearrange pattern applied to the result, for compositions and
    output-only axes that einops.einsum itself does not accept."""
    xs = list(xs)
    if pre:
        for i, p in pre:
            xs[i] = einops.rearrange(xs[i], p, **sizes)
    r = einops.einsum(*xs, pattern)
    if post:
        r = einops.repeat(r, post, **sizes)
    return r


def add_eo_einsum(pattern, shapes, sizes=None, dtypes=ALL5, pre=None, ref_pattern=None,
                  post=None, ref_sizes=None):
    sizes = dict(sizes or {})
    rsizes = dict(ref_sizes or sizes)
    for dt in dtypes:
        dts = dt if isinstance(dt, tuple) else (dt,) * len(shapes)
        ins = [make_input(s, d) for s, d in zip(shapes, dts)]
        c = Case("einops.einsum", pattern, ins, sizes)
        rp = ref_pattern or pattern
        finish_linear(c, lambda xs: eo_einsum_ref(rp, xs, rsizes, pre, post))
        CASES.append(c)


def add_err(expr, shapes, sizes=None, reduce=None, dtype=F64, ref=None, why=""):
    """einc must reject.  ref(inputs) is numpy's/einops' call, which must raise too (checked, so
    the table stays honest); ref=None where only einc's contract (README.md, "The command line" and "Semantics") applies."""
    ins = [make_input(s, dtype) for s in shapes]
    c = Case("error: " + why, expr, ins, sizes, reduce)
    c.error = True
    if ref is not None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref(ins)
            c.ref_error = "reference accepted it (bad table entry)"
        except Exception:  # noqa: BLE001
            pass
    CASES.append(c)


# ---- numpy dialect -------------------------------------------------------------------

def build_numpy_cases():
    # check_einsum_sums: sum, sum over ellipsis, trace, diagonal
    for n in (1, 5, 16):
        add_np("i->", [(n,)])
        add_np("...i->...", [(2, 3, n)], dtypes=NUM4)
        add_np("i...->...", [(2, n)], dtypes=NUM4)
        add_np("ii", [(n, n)], dtypes=NUM4)
    add_np("i...->...", [(2, 3, 5)])
    add_np("ii->i", [(4, 4)])
    add_np("iii->i", [(3, 3, 3)], dtypes=NUM4)
    add_np("iii", [(3, 3, 3)], dtypes=NUM4)
    add_np("ij->j", [(3, 4)])
    add_np("ij", [(3, 4)])
    add_np("ji", [(3, 4)])
    add_np("ijk->jik", [(2, 3, 4)])
    add_np("...", [(2, 3)])
    add_np("...", [()], dtypes=NUM4)
    add_np("...->...", [(2, 3, 4)], dtypes=(F32, I64))
    add_np("batch->batch", [(2, 1, 3, 1, 2)], dtypes=(F64, I32))
    # ellipsis around diagonals
    add_np("ii...->...i", [(3, 3, 2)], dtypes=NUM4)
    add_np("ii...->i...", [(3, 3, 2)], dtypes=NUM4)
    add_np("...ii->...i", [(2, 3, 3)], dtypes=NUM4)
    add_np("...ii->i...", [(2, 3, 3)], dtypes=NUM4)
    add_np("i...i->i...", [(3, 2, 3)], dtypes=NUM4)
    add_np("i...i->...i", [(3, 2, 3)], dtypes=NUM4)
    add_np("jii->ij", [(2, 3, 3)], dtypes=NUM4)
    # repeated labels / diagonals
    add_np("aabb->ab", [(2, 2, 3, 3)], dtypes=NUM4)
    add_np("ijij->", [(2, 3, 2, 3)], dtypes=NUM4)
    add_np("ijji->", [(2, 3, 3, 2)], dtypes=NUM4)
    add_np("iij->ij", [(3, 3, 4)], dtypes=NUM4)
    add_np("iij", [(3, 3, 4)], dtypes=(F64,))
    add_np("iji->j", [(3, 4, 3)], dtypes=NUM4)
    add_np("bbcdc->d", [(1, 1, 3, 1, 3)], dtypes=NUM4)
    # vector products
    add_np("i,i", [(5,), (5,)])
    add_np("i, i", [(5,), (5,)], dtypes=(F64,))
    add_np("i,i->i", [(5,), (5,)])
    add_np("i,i->", [(5,), (5,)])
    add_np("i,i,i->i", [(5,)] * 3, dtypes=NUM4)
    add_np("i,i,i->", [(5,)] * 3, dtypes=NUM4)
    add_np("i,i,i,i->", [(4,)] * 4, dtypes=NUM4)
    add_np("i,j", [(3,), (4,)])
    add_np("i,j->ji", [(3,), (4,)], dtypes=NUM4)
    # matrix-vector, matrix-matrix
    add_np("ij,j", [(3, 4), (4,)])
    add_np("ij, j", [(3, 4), (4,)], dtypes=(F32,))
    add_np("ji,j", [(4, 3), (4,)])
    add_np("ji,i->", [(3, 4), (4,)], dtypes=NUM4)
    add_np("ij,i->", [(3, 4), (3,)], dtypes=NUM4)
    add_np("i,ij->", [(3,), (3, 4)], dtypes=NUM4)
    add_np("ij,jk", [(3, 4), (4, 5)])
    add_np("ij,jk->ik", [(3, 4), (4, 5)])
    add_np("ik,kj->ij", [(3, 4), (4, 5)], dtypes=NUM4)
    add_np("ij,jk,kl", [(2, 3), (3, 4), (4, 5)], dtypes=NUM4)
    add_np("ij,ij->j", [(3, 4), (3, 4)], dtypes=NUM4)
    add_np("ijk,jil->kl", [(3, 4, 5), (4, 3, 2)])
    add_np("ijk, jil -> kl", [(3, 4, 5), (4, 3, 2)], dtypes=(F64,))
    add_np("ijk,j->ijk", [(2, 3, 4), (3,)], dtypes=NUM4)
    add_np("ijkl,k->ijl", [(2, 3, 4, 5), (4,)], dtypes=NUM4)
    add_np("ijkl,k", [(2, 3, 4, 5), (4,)], dtypes=NUM4)
    add_np("ij,ji", [(3, 4), (4, 3)], dtypes=NUM4)
    add_np("ik,kj->ijk", [(2, 3), (3, 4)], dtypes=NUM4)
    add_np("ij->...ij", [(2, 3)], dtypes=(F64, I32))
    # bigger, to leave the tiny-kernel paths
    add_np("ij,jk", [(33, 65), (65, 17)], dtypes=NUM4)
    add_np("ik,kj->ij", [(64, 128), (128, 64)], dtypes=FLOATS)
    add_np("bij,bjk->bik", [(4, 32, 48), (4, 48, 20)], dtypes=(F32, I64))
    add_np("i->", [(1000,)], dtypes=NUM4)
    add_np("ij->ji", [(37, 53)], dtypes=(F32, I32, BOOL))
    add_np("ij->i", [(37, 53)], dtypes=(F32, I64))
    add_np("ij,jk", [(256, 256), (256, 256)], dtypes=FLOATS)
    add_np("ij->i", [(1000, 1000)], dtypes=(F32,))
    add_np("ij->j", [(1000, 999)], dtypes=(F64, I32))
    add_np("bhqd,bhkd->bhqk", [(2, 4, 33, 16), (2, 4, 65, 16)], dtypes=(F32, I32))
    # ellipsis: on every operand, on some only, right-aligned broadcasting
    add_np("...,...", [(2, 3), (2, 3)])
    add_np("..., ...", [(3, 1), (1, 4)], dtypes=NUM4)
    add_np("...,...", [(), (2, 3)], dtypes=NUM4)
    add_np("...i,...i", [(2, 3, 4), (3, 4)])
    add_np("...i,...i", [(3,), (3,)], dtypes=NUM4)
    add_np("...i, ...i", [(4,), (2, 3, 4)], dtypes=NUM4)
    add_np("i...,i...", [(3, 2), (3, 2)], dtypes=NUM4)
    add_np("i..., i...", [(3, 2, 1), (3, 1, 4)], dtypes=NUM4)
    add_np("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)])
    add_np("...ij,...jk->...ik", [(2, 3, 4), (4, 5)], dtypes=NUM4)
    add_np("...ij,...jk->...ik", [(1, 3, 4), (2, 4, 5)], dtypes=NUM4)
    add_np("...ij,...jk", [(2, 1, 3, 4), (5, 4, 6)], dtypes=NUM4)
    add_np("...ij,jk->...ik", [(2, 3, 4), (4, 5)], dtypes=NUM4)
    add_np("ij,...jk->...ik", [(3, 4), (2, 4, 5)], dtypes=NUM4)
    add_np("ij...,j...->i...", [(1, 2), (2, 2, 1)], dtypes=NUM4)
    add_np("ij...,j...->ij...", [(2, 3, 4), (3,)], dtypes=NUM4)
    add_np("ij...,...j->ij...", [(2, 3, 4), (3,)], dtypes=NUM4)
    add_np("ij...,j->ij...", [(2, 3, 4), (3,)], dtypes=NUM4)
    add_np("ik...,k...->i...", [(4, 3), (3, 2)], dtypes=NUM4)
    add_np("ik...,...kj->i...j", [(4, 3), (3, 2)], dtypes=NUM4)
    add_np("...k,kj", [(4, 3), (3, 2)], dtypes=NUM4)
    add_np("ik,k...->i...", [(4, 3), (3, 2)], dtypes=NUM4)
    add_np("...kl,k", [(2, 3, 4, 5), (4,)], dtypes=NUM4)
    add_np("...kl,k...", [(2, 3, 4, 5), (4,)], dtypes=NUM4)
    add_np("...lmn,lmno->...o", [(1, 1, 1, 3, 4, 2), (3, 4, 2, 3)], dtypes=NUM4)
    add_np("...lmn,...lmno->...o", [(1, 1, 1, 3, 4, 2), (3, 4, 2, 3)], dtypes=(F64,))
    add_np("...ft,mf->...mt", [(2, 3, 4), (5, 3)], dtypes=NUM4)
    add_np("cl, cpx->lpx", [(2, 3), (2, 3, 7)], dtypes=(F32, (F32, I64)))
    # 0-d operands
    add_np(",ij->ij", [(), (2, 3)])
    add_np(",i->", [(), (5,)], dtypes=NUM4)
    add_np(",i->i", [(), (5,)], dtypes=NUM4)
    add_np("i,->", [(5,), ()], dtypes=NUM4)
    add_np("i,->i", [(5,), ()], dtypes=NUM4)
    add_np(",->", [(), ()], dtypes=NUM4)
    add_np(",", [(), ()], dtypes=(F64, I32))
    add_np("->", [()], dtypes=(F64, I64))
    add_np("ij,->ij", [(2, 3), ()], dtypes=((F32, F64), (I32, F32)))
    # many operands (test_einsum_misc, optimize_compare tables)
    add_np("x,yx,zx->xzy", [(2,), (2, 2), (4, 2)], dtypes=NUM4)
    add_np("ijklm,ijn,ijn->", [(2, 3, 2, 2, 3), (2, 3, 4), (2, 3, 4)], dtypes=NUM4)
    add_np("ijklm,ijn->", [(2, 3, 2, 2, 3), (2, 3, 4)], dtypes=NUM4)
    add_np("z,mz,zm->", [(3,), (4, 3), (3, 4)], dtypes=NUM4)
    add_np("mi,mi,mi->m", [(3, 4)] * 3, dtypes=NUM4)
    add_np("im,im,im->m", [(3, 4)] * 3, dtypes=NUM4)
    sz = dict(a=2, b=3, c=2, d=3, e=2, f=3, g=2, h=2, i=3, j=2)
    for e in ("a,ab,abc->abc", "a,b,ab->ab",
              "ea,fb,gc,hd,abcd->efgh", "ea,fb,abcd,gc,hd->efgh", "abcd,ea,fb,gc,hd->efgh",
              "acdf,jbje,gihb,hfac,gfac,gifabc,hfac", "cd,bdhe,aidb,hgca,gc,hgibcd,hgac",
              "abhe,hidj,jgba,hiab,gab", "bde,cdh,agdb,hica,ibd,hgicd,hiac",
              "chd,bde,agbc,hiad,hgc,hgi,hiad", "bdhe,acad,hiab,agac,hibd",
              "ab,ab,c->", "ab,ab,c->c", "ab,ab,cd,cd->", "ab,ab,cd,cd->ac", "ab,ab,cd,cd->cd",
              "ab,ab,cd,cd,ef,ef->",
              "ab,cd,ef->abcdef", "ab,cd,ef->acdf", "ab,cd,de->abcde", "ab,cd,de->be",
              "ab,bcd,cd->abcd", "ab,bcd,cd->abd",
              "eb,cb,fb->cef", "dd,fb,be,cdb->cef", "bca,cdb,dbf,afc->", "dcc,fce,ea,dbf->ab",
              "fdf,cdd,ccd,afe->ae", "abcd,ad", "ed,fcd,ff,bcf->be", "baa,dcf,af,cde->be",
              "bd,db,eac->ace", "fff,fae,bef,def->abd", "efc,dbc,acf,fd->abe", "ba,ac,da->bcd",
              "ab,ab", "ab,ba", "abc,abc", "abc,bac", "abc,cba",
              "aab,fa,df,ecc->bde", "ecb,fef,bad,ed->ac", "bcf,bbb,fbf,fc->", "bb,ff,be->e",
              "bcb,bb,fc,fff->", "fbb,dfd,fc,fc->", "afd,ba,cc,dc->bf", "adb,bc,fa,cfc->d",
              "bbd,bda,fc,db->acf", "dba,ead,cad->bce", "aef,fbc,dca->bde"):
        add_np(e, letters_shapes(e, sz), dtypes=(F64, I64) if len(e) > 20 else (F64, F32, I32))
    # size-1 broadcasting of a label across operands (test_broadcasting_dot_cases)
    add_np("ijk,kl,jl", [(1, 5, 4), (4, 6), (5, 6)], dtypes=NUM4)
    add_np("ijk,kl,jl,i->i", [(1, 5, 4), (4, 6), (5, 6), (10,)], dtypes=NUM4)
    add_np("abjk,kl,jl", [(1, 1, 5, 4), (4, 6), (5, 6)], dtypes=(F64, I32))
    add_np("abjk,kl,jl,ab->ab", [(1, 1, 5, 4), (4, 6), (5, 6), (7, 7)], dtypes=(F64, I32))
    add_np("ij,ij->ij", [(3, 1), (3, 4)])
    add_np("ij,jk", [(3, 1), (4, 5)], dtypes=NUM4)
    add_np("i,i", [(1,), (5,)], dtypes=NUM4)
    add_np("ij,ij->i", [(1, 4), (3, 4)], dtypes=NUM4)
    # uppercase labels (implicit output: sorted, uppercase first)
    add_np("aB", [(3, 4)])
    add_np("aA", [(2, 3)], dtypes=NUM4)
    add_np("AaBb", [(2, 3, 4, 5)], dtypes=(F64, I32))
    add_np("Ab,bC", [(2, 3), (3, 4)], dtypes=NUM4)
    add_np("ab,Bc", [(2, 3), (4, 5)], dtypes=NUM4)
    add_np("iJ,Jk", [(2, 3), (3, 4)], dtypes=NUM4)
    add_np("zA,Az", [(2, 3), (3, 2)], dtypes=NUM4)
    add_np("Ba,aC->BC", [(2, 3), (3, 4)], dtypes=NUM4)
    add_np("Zz,zY", [(2, 3), (3, 4)], dtypes=(F64, I64))
    # sizes 0 and 1
    add_np("ij,jk->ik", [(2, 0), (0, 3)])
    add_np("ij,jk", [(0, 3), (3, 2)], dtypes=NUM4)
    add_np("i->", [(0,)])
    add_np("ij->ji", [(0, 3)])
    add_np("ii->i", [(0, 0)], dtypes=NUM4)
    add_np("...i,...i", [(0, 3), (0, 3)], dtypes=NUM4)
    add_np("i,j", [(0,), (3,)], dtypes=NUM4)
    add_np("ij,jk", [(1, 1), (1, 1)])
    add_np("i->", [(1,)], dtypes=NUM4)
    add_np("ii", [(1, 1)], dtypes=NUM4)
    # mixed dtypes: numpy's common type
    for dts in ((F32, F64), (F64, F32), (I32, F32), (I32, F64), (I64, F32), (I32, I64),
                (BOOL, I32), (BOOL, F32), (BOOL, I64), (F32, I32)):
        add_np("ij,jk", [(3, 4), (4, 2)], dtypes=(dts,))
    add_np("i,i,i->i", [(4,)] * 3, dtypes=((BOOL, I32, F32), (I64, BOOL, BOOL)))
    add_np(",ij->ij", [(), (2, 3)], dtypes=((F64, F32), (I64, I32), (F32, I64)))
    # numpy dialect with --reduce (numpy's max/min/prod/mean over the dropped axes)
    for op in REDUCE_OPS:
        st = "prod" if op == "prod" else "plain"
        add_np("ij->i", [(3, 4)], reduce=op, style=st)
        add_np("ijk->ki", [(2, 3, 4)], reduce=op, style=st)
        add_np("ij->", [(3, 4)], reduce=op, style=st, dtypes=NUM4)
        add_np("ii->", [(3, 3)], reduce=op, style=st, dtypes=NUM4)
        add_np("iij->j", [(3, 3, 4)], reduce=op, style=st, dtypes=NUM4)
        add_np("...i->...", [(2, 3, 4)], reduce=op, style=st, dtypes=NUM4)
        add_np("i...->...", [(2, 3, 4)], reduce=op, style=st, dtypes=NUM4)
        add_np("ij->i", [(31, 57)], reduce=op, style=st, dtypes=(F32, I32))
    for op in ("sum", "mean", "prod"):
        add_np("ij->i", [(3, 0)], reduce=op, dtypes=NUM4)


def build_numpy_fuzz(n=300):
    """Random numpy-dialect expressions (seeded): 1-3 operands, repeated labels, upper- and
    lowercase, '...' on some operands with right-aligned broadcasting, size-1 label
    broadcasting, implicit and explicit outputs, mixed dtypes.  Whatever numpy rejects becomes
    an error case."""
    rng = np.random.default_rng(7)
    pool = "abAB" + "cdC"
    made = rejected = 0
    while made < n:
        nops = int(rng.integers(1, 4))
        sizes = {c: int(rng.integers(1, 5)) for c in pool}
        ell = [int(x) for x in rng.integers(1, 4, size=3)]
        use_ell = rng.random() < 0.4
        ops, shapes = [], []
        for _ in range(nops):
            rank = int(rng.integers(0, 4))
            labs = "".join(rng.choice(list(pool), size=rank)) if rank else ""
            shp = [sizes[c] for c in labs]
            # a label may be 1 in one operand and n in another (numpy broadcasts it),
            # but repeated labels inside one operand stay equal
            for c in set(labs):
                if labs.count(c) == 1 and rng.random() < 0.15:
                    shp[labs.index(c)] = 1
            if use_ell and rng.random() < 0.7:
                k = int(rng.integers(0, 3))
                eshape = [e if rng.random() < 0.8 else 1 for e in ell[3 - k:]] if k else []
                pos = int(rng.integers(0, len(labs) + 1))
                labs = labs[:pos] + "..." + labs[pos:]
                shp = shp[:pos] + eshape + shp[pos:]
            if shp and rng.random() < 0.08:      # now and then a size that cannot match
                shp[int(rng.integers(0, len(shp)))] += 1
            ops.append(labs)
            shapes.append(tuple(shp))
        expr = ",".join(ops)
        if rng.random() < 0.5:
            inl = sorted(set("".join(ops).replace(".", "")))
            out = [c for c in inl if rng.random() < 0.5]
            rng.shuffle(out)
            out = "".join(out)
            if "..." in expr and rng.random() < 0.85:
                pos = int(rng.integers(0, len(out) + 1))
                out = out[:pos] + "..." + out[pos:]
            expr += "->" + out
        dts = tuple(ALL5[int(rng.integers(0, 5))] for _ in range(nops))
        if rng.random() < 0.6:
            dts = (dts[0],) * nops
        ins = [make_input(sh, d) for sh, d in zip(shapes, dts)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                np.einsum(expr, *ins)
        except ValueError:
            if rejected < n // 6:      # keep the rejected ones as error cases
                rejected += 1
                add_err(expr, shapes, dtype=dts[0], ref=lambda x, e=expr: np.einsum(e, *x),
                        why="numpy rejects (fuzz)")
                CASES[-1].inputs = ins
                made += 1
            continue
        c = Case("numpy fuzz", expr, ins)
        finish_linear(c, lambda xs, e=expr: np.einsum(e, *xs))
        CASES.append(c)
        made += 1


# ---- einops dialect ------------------------------------------------------------------

def build_einops_cases():
    X5 = (2, 3, 4, 5, 6)
    identity = ["a b c d e-> a b c d e", "a b c d e ...-> ... a b c d e",
                "a b c d e ...-> a ... b c d e", "... a b c d e -> ... a b c d e",
                "a ... e-> a ... e", "a ... -> a ... ", "a ... c d e -> a (...) c d e"]
    for p in identity:
        add_eo("rearrange", p, X5, dtypes=(F32, I64, BOOL))
    for p1, p2 in [("a b c d e -> (a b) c d e", "a b ... -> (a b) ... "),
                   ("a b c d e -> a b (c d) e", "... c d e -> ... (c d) e"),
                   ("a b c d e -> (a b c d e)", "... ->  (...)"),
                   ("a b c d e -> b (c d e) a", "a b ... -> b (...) a"),
                   ("a b c d e -> b (a c d) e", "a b ... e -> b (a ...) e")]:
        add_eo("rearrange", p1, X5, dtypes=(F64, I32))
        add_eo("rearrange", p2, X5, dtypes=(F32, BOOL))
    add_eo("rearrange", "a b c d ... ->  a b c ... d", X5, dtypes=(F64,))
    X6 = (2, 3, 2, 5, 2, 3)
    for p in ("a b c d e f -> a b c d e f", "b a c d e f -> a b d e f c",
              "a b c d e f -> f e d c b a", "a b c d e f -> (f e) d (c b a)",
              "a b c d e f -> (f e d c b a)", "a b c d e f -> a (b) (c d e) f",
              "a aa aa1 a1a1 aaaa a11 -> a aa aa1 a1a1 aaaa a11"):
        add_eo("rearrange", p, X6, dtypes=(F64, I32))
    add_eo("rearrange", "(f d) c (e b) a -> a b c d e f", (10, 2, 6, 2), dict(b=3, d=5),
           dtypes=(F64, I64))
    # the classic image ones
    add_eo("rearrange", "b (h w) c -> b h w c", (2, 6, 3), dict(h=2))
    add_eo("rearrange", "b (h w) c -> b h w c", (2, 6, 3), dict(w=2), dtypes=(F32,))
    add_eo("rearrange", "b h w c -> b (h w) c", (2, 2, 3, 4))
    add_eo("rearrange", "b (h p1) (w p2) c -> b h w (p1 p2 c)", (2, 4, 6, 3), dict(p1=2, p2=2))
    add_eo("rearrange", "b h w (p1 p2 c) -> b (h p1) (w p2) c", (2, 2, 3, 12),
           dict(p1=2, p2=2), dtypes=NUM4)
    add_eo("rearrange", "b (h p1) (w p2) c -> b h w (p1 p2 c)", (2, 32, 32, 3),
           dict(p1=4, p2=4), dtypes=(F32, BOOL))
    add_eo("rearrange", "b c h w -> b h w c", (2, 3, 4, 5))
    add_eo("rearrange", "b c h w -> b h w c", (4, 16, 32, 32), dtypes=(F32,))
    add_eo("rearrange", "b c (h1 h2) (w1 w2) -> b (c h2 w2) h1 w1", (2, 3, 4, 6),
           dict(h2=2, w2=2), dtypes=NUM4)
    add_eo("rearrange", "(b1 b2) h w c -> (b1 h) (b2 w) c", (6, 3, 4, 2), dict(b1=2),
           dtypes=NUM4)
    add_eo("rearrange", "b h w c -> (b h) w c", (2, 3, 4, 5), dtypes=(F64, I32))
    add_eo("rearrange", "b h w c -> h (b w) c", (2, 3, 4, 5), dtypes=(F64, I32))
    add_eo("rearrange", "b c h w -> b (c h w)", (2, 3, 4, 5), dtypes=(F64, I32))
    add_eo("rearrange", "batch seq dim -> seq batch dim", (2, 3, 4), dtypes=(F32, I64))
    add_eo("rearrange", "a b -> b a", (37, 53), dtypes=(F64, I32))
    add_eo("rearrange", "(a b c) -> a b c", (24,), dict(a=2, b=3), dtypes=(F64, I32))
    add_eo("rearrange", "b c h w -> b (h w c)", (4, 16, 32, 32), dtypes=(F32, I64))
    # unit axes
    add_eo("rearrange", "b 1 c -> b c", (2, 1, 3))
    add_eo("rearrange", "b () c -> b c", (2, 1, 3), dtypes=(F64, I32))
    add_eo("rearrange", "b c -> b 1 c", (2, 3))
    add_eo("rearrange", "b c -> b () c", (2, 3), dtypes=(F64, I32))
    add_eo("rearrange", "a -> 1 a 1", (4,), dtypes=(F64, BOOL))
    add_eo("rearrange", "1 1 a -> a", (1, 1, 4), dtypes=(F64, I64))
    add_eo("rearrange", "(a a2) ... -> (a2 a) ...", (4, 3, 2), dict(a2=1), dtypes=(F64, I32))
    add_eo("rearrange", "(a b) -> a b", (6,), dict(a=1), dtypes=(F64,))
    # ellipsis
    add_eo("rearrange", "... c -> c ...", (2, 3, 4))
    add_eo("rearrange", "... c -> c ...", (4,), dtypes=(F64, I32))
    add_eo("rearrange", "b ... -> b (...)", (2, 3, 4))
    add_eo("rearrange", "b ... -> b (...)", (3,), dtypes=(F64, I32))
    add_eo("rearrange", "b ... -> ... b", (2, 3, 4), dtypes=(F64, I32))
    add_eo("rearrange", "... -> (...)", (2, 3, 4), dtypes=(F64, I32))
    # sizes 0
    add_eo("rearrange", "b (h w) -> b h w", (0, 6), dict(h=2), dtypes=(F64, I32))
    add_eo("rearrange", "a b -> b a", (0, 3), dtypes=(F64, BOOL))

    # reductions (each op)
    R = [("b c h w -> b c", (2, 3, 4, 5), {}),
         ("b c h w -> c", (2, 3, 4, 5), {}),
         ("b c (h h2) (w w2) -> b c h w", (2, 3, 4, 6), dict(h2=2, w2=2)),
         ("b c h w -> b c 1 1", (2, 3, 4, 5), {}),
         ("b c h w -> b c () ()", (2, 3, 4, 5), {}),
         ("... c -> c", (2, 3, 4), {}),
         ("a b c d e -> ", X5, {}),
         ("a ... -> ", X5, {}),
         ("a b c d e -> (e a)", X5, {}),
         ("a ... e -> (e a)", X5, {}),
         ("a b c d e -> d (a e)", X5, {}),
         (" a b c d e ... -> d (a e) ", X5, {}),
         ("a b c d e -> (a b)", X5, {}),
         (" ... c d e  -> (...) ", X5, {}),
         ("a b c d e -> (e c) a", X5, {}),
         ("a ... c d e -> (e c) a", X5, {}),
         ("a b c d e -> (e c a)", X5, {}),
         ("(a1 a2) ... (e1 e2) -> ", X5, dict(a1=1, e2=2)),
         ("a (c1 c2) -> a", (3, 4), dict(c1=2)),
         ("b h w -> b", (3, 17, 19), {}),
         ("a 2 -> a", (3, 2), {}),
         ("b c h w -> b c", (2, 3, 4, 5), dict(h=4, b=2)),
         ("b c h w -> b c", (4, 32, 32, 32), {}),
         ("b c h w -> c", (4, 32, 32, 32), {}),
         ]
    for p, shp, sz in R:
        add_eo("reduce", p, shp, sz, dtypes=(F64, F32, I32, I64, BOOL))
    # default op (no --reduce) is sum
    add_eo("reduce", "b c h w -> b c", (2, 3, 4, 5), ops=("sum",), reduce_flag=False,
           dtypes=(F64, I32, BOOL))
    add_eo("reduce", "a b -> a", (3, 0), ops=("sum", "mean", "prod"), dtypes=(F64, F32, I32))
    add_eo("reduce", "a b -> b", (0, 3), ops=("sum", "mean", "prod"), dtypes=(F64, I64))

    # repeats
    P = [("h w -> h w c", (2, 3), dict(c=3)),
         ("h w -> h (w r)", (2, 3), dict(r=2)),
         ("h w -> (r h) w", (2, 3), dict(r=2)),
         ("h w -> h w 3", (2, 3), {}),
         ("h w -> (h 2) w", (2, 3), {}),
         ("h w -> w h c", (2, 3), dict(c=2)),
         ("a b c -> (c copy a b)", (2, 3, 5), dict(copy=2, a=2, b=3, c=5)),
         ("a b c -> (a copy) b c ", (2, 3, 5), dict(copy=1)),
         ("a b c -> (c a) (copy1 b copy2)", (2, 3, 5), dict(a=2, copy1=1, copy2=2)),
         ("a ...  -> a ... copy", (2, 3, 5), dict(copy=4)),
         ("... c -> ... (copy1 c copy2)", (2, 3, 5), dict(copy1=1, copy2=2)),
         (" ...  -> copy1 ... copy2 ", (2, 3, 5), dict(copy1=2, copy2=3)),
         ("a b c  -> copy1 a copy2 b c () ", (2, 3, 5), dict(copy1=2, copy2=1)),
         ("a b c d -> (c 2 d a b)", (1, 2, 4, 6), dict(a=1, c=4, d=6)),
         ("1 b c d -> (d copy 1) 3 b c ", (1, 2, 4, 6), dict(copy=3)),
         ("1 ...  -> 3 ... ", (1, 2, 4, 6), {}),
         ("() ... d -> 1 (copy1 d copy2) ... ", (1, 2, 4, 6), dict(copy1=2, copy2=3)),
         ("1 b c d -> (1 1) (1 b) 2 c 3 d (1 1)", (1, 2, 4, 6), {}),
         ("...  -> b (...)", (2, 3), dict(b=3)),
         ("h w -> h w c", (0, 3), dict(c=2)),
         ("h w -> h w c", (2, 3), dict(c=0)),
         ("h w -> (h c) w", (2, 3), dict(c=0)),
         ]
    for p, shp, sz in P:
        add_eo("repeat", p, shp, sz, dtypes=(F64, F32, I32, I64, BOOL))

    # einops.einsum, several operands
    E = [("b i, i j -> b j", [(2, 3), (3, 4)]),
         ("b c h w, b w -> b h", [(2, 3, 4, 5), (2, 5)]),
         ("b c h w, b w, b c -> b h", [(2, 3, 4, 5), (2, 5), (2, 3)]),
         ("... one two three, three four five -> ... two five", [(2, 2, 3, 4), (4, 2, 3)]),
         ("one two three ..., three four five -> two five ...", [(2, 3, 4, 2), (4, 2, 3)]),
         ("... one two three, ... three four five -> ... two five",
          [(2, 2, 3, 4), (2, 4, 2, 3)]),
         (" one  two  ,  three four->two  four  ", [(2, 3), (4, 5)]),
         ("i j, j k, k l -> i l", [(2, 3), (3, 4), (4, 5)]),
         ("batch in, in out -> batch out", [(4, 8), (8, 3)]),
         ("i, j -> i j", [(3,), (4,)]),
         ("a b, a b -> ", [(3, 4), (3, 4)]),
         ("b h w, b w c -> b h c", [(2, 3, 4), (2, 4, 5)]),
         ("i i, i -> i", [(3, 3), (3,)]),
         ("x y, y z -> x z", [(40, 70), (70, 30)]),
         ("... i, ... i -> ...", [(2, 1, 3), (4, 3)]),
         ("i ..., i ... -> ...", [(3, 2, 1), (3, 1, 4)]),
         ]
    for p, shapes in E:
        add_eo_einsum(p, shapes, dtypes=(F64, F32, I32, I64, BOOL))
    # one operand with a repeated axis: einops.einsum's traces and diagonals
    for p, shapes in [("i i ->", [(3, 3)]), ("i middle i -> middle", [(2, 3, 2)]),
                      ("i ... i -> ...", [(2, 3, 4, 2)]), ("one one one -> one", [(3, 3, 3)]),
                      ("a a -> a", [(4, 4)]), ("a b a -> b a", [(3, 2, 3)])]:
        add_eo_einsum(p, shapes, dtypes=(F64, F32, I32, I64, BOOL))
    add_eo_einsum("b i, i j -> b j", [(2, 3), (3, 4)], dtypes=((F32, F64), (I32, F32), (BOOL, I64)))
    # composition inside einsum, which einops.einsum itself refuses: rearrange first, then einsum
    add_eo_einsum("b (h d), d e -> b h e", [(2, 6), (3, 4)], dict(h=2), dtypes=NUM4,
                  pre=[(0, "b (h d) -> b h d")], ref_pattern="b h d, d e -> b h e")
    add_eo_einsum("b (h d), d e -> b h e", [(2, 6), (3, 4)], dict(d=3), dtypes=(F64,),
                  pre=[(0, "b (h d) -> b h d")], ref_pattern="b h d, d e -> b h e")
    # d is known from the second operand, so h = 6 / 3 needs no size word
    add_eo_einsum("b (h d), d e -> b h e", [(2, 6), (3, 4)], {}, dtypes=(F64, I32),
                  pre=[(0, "b (h d) -> b h d")], ref_pattern="b h d, d e -> b h e",
                  ref_sizes=dict(d=3))
    add_eo_einsum("... (h d), d e -> ... h e", [(2, 3, 6), (3, 4)], dict(h=2), dtypes=(F64, I32),
                  pre=[(0, "... (h d) -> ... h d")], ref_pattern="... h d, d e -> ... h e")
    # composition on the output side
    add_eo_einsum("b i, i j -> (b j)", [(2, 3), (3, 4)], dtypes=(F64, I64),
                  ref_pattern="b i, i j -> b j", post="b j -> (b j)")
    add_eo_einsum("b i, i j -> (j b)", [(2, 3), (3, 4)], dtypes=(F32,),
                  ref_pattern="b i, i j -> b j", post="b j -> (j b)")
    # an axis only on the output side repeats (README.md, "Semantics": "Axes only on the output side need a
    # size"), which einops.einsum does not offer
    add_eo_einsum("a b, b c -> a c d", [(2, 3), (3, 5)], dict(d=2), dtypes=(F64, I32),
                  ref_pattern="a b, b c -> a c", post="a c -> a c d")
    add_eo_einsum("(b h) d, d e -> b h e", [(6, 3), (3, 4)], dict(b=2), dtypes=(F64, I32),
                  pre=[(0, "(b h) d -> b h d")], ref_pattern="b h d, d e -> b h e")
    add_eo_einsum("b (h d), h d e -> b e", [(2, 6), (2, 3, 4)], dict(h=2), dtypes=(F64, I32),
                  pre=[(0, "b (h d) -> b h d")], ref_pattern="b h d, h d e -> b e")
    add_eo_einsum("b t (h d), b s (h d) -> b h t s", [(2, 3, 8), (2, 5, 8)], dict(h=2),
                  dtypes=(F32, I64), pre=[(0, "b t (h d) -> b t h d"), (1, "b s (h d) -> b s h d")],
                  ref_pattern="b t h d, b s h d -> b h t s")


def build_error_cases():
    E = np.einsum
    # numpy dialect (test_einsum_errors and friends)
    add_err("ij->ijk", [(2, 3)], ref=lambda x: E("ij->ijk", *x), why="output label not in input")
    add_err("ik,kj->ijl", [(2, 3), (3, 4)], ref=lambda x: E("ik,kj->ijl", *x),
            why="output label not in input")
    add_err("i->ij", [(2,)], ref=lambda x: E("i->ij", *x), why="output label not in input")
    add_err("ij->jij", [(2, 2)], ref=lambda x: E("ij->jij", *x), why="repeated output label")
    add_err("ij->ii", [(2, 2)], ref=lambda x: E("ij->ii", *x), why="repeated output label")
    add_err("ij", [(2, 3, 4)], ref=lambda x: E("ij", *x), why="rank mismatch (too many dims)")
    add_err("i", [(2, 3)], ref=lambda x: E("i", *x), why="rank mismatch (broadcast needs ...)")
    add_err("ijk", [(2, 3)], ref=lambda x: E("ijk", *x), why="rank mismatch (too few dims)")
    add_err("i", [()], ref=lambda x: E("i", *x), why="rank mismatch (0-d)")
    add_err("...i", [()], ref=lambda x: E("...i", *x), why="rank mismatch (0-d, ellipsis)")
    add_err("i...j", [(2,)], ref=lambda x: E("i...j", *x), why="rank mismatch (ellipsis)")
    add_err("ij,jk->ik", [(2, 3), (3,)], ref=lambda x: E("ij,jk->ik", *x),
            why="rank mismatch (second operand)")
    add_err("ij,jk", [(2, 3), (4, 5)], ref=lambda x: E("ij,jk", *x), why="size mismatch")
    add_err("ii", [(2, 3)], ref=lambda x: E("ii", *x), why="diagonal size mismatch")
    add_err("ii->i", [(2, 3)], ref=lambda x: E("ii->i", *x), why="diagonal size mismatch")
    add_err("ii->i", [(1, 3)], ref=lambda x: E("ii->i", *x), why="diagonal size mismatch (1)")
    add_err("...i,...i", [(2, 3), (4, 3)], ref=lambda x: E("...i,...i", *x),
            why="ellipsis broadcast mismatch")
    add_err("...i...", [(2, 3)], ref=lambda x: E("...i...", *x), why="two ellipses")
    add_err("...i,...j->......", [(2,), (3,)], ref=lambda x: E("...i,...j->......", *x),
            why="two ellipses in output")
    add_err("...i->", [(2, 3)], ref=lambda x: E("...i->", *x),
            why="ellipsis dims dropped from explicit output")
    add_err("i..", [(2, 2)], ref=lambda x: E("i..", *x), why="invalid ellipsis")
    add_err(".i...", [(2, 2)], ref=lambda x: E(".i...", *x), why="invalid ellipsis")
    add_err("j->..j", [(2,)], ref=lambda x: E("j->..j", *x), why="invalid ellipsis")
    add_err("j->.j...", [(2,)], ref=lambda x: E("j->.j...", *x), why="invalid ellipsis")
    add_err("i%...", [(2, 2)], ref=lambda x: E("i%...", *x), why="bad character")
    add_err("...j$", [(2, 2)], ref=lambda x: E("...j$", *x), why="bad character")
    add_err("i->&", [(2,)], ref=lambda x: E("i->&", *x), why="bad character")
    add_err("i_j->ij", [(2, 3, 4)], ref=lambda x: E("i_j->ij", *x), why="bad character")
    add_err("ij->i>j", [(2, 3)], ref=lambda x: E("ij->i>j", *x), why="bad arrow")
    add_err("ij-ji", [(2, 3)], ref=lambda x: E("ij-ji", *x), why="bad arrow")
    add_err("i->i->i", [(2,)], ref=lambda x: E("i->i->i", *x), why="two arrows")
    add_err("i,j", [(2,)], ref=lambda x: E("i,j", *x), why="too few operands")
    add_err("i", [(2,), (2,)], ref=lambda x: E("i", *x), why="too many operands")
    add_err(",", [()], ref=lambda x: E(",", *x), why="too few operands")
    add_err("ij->i", [(3, 0)], reduce="max", ref=lambda x: np.max(x[0], axis=1),
            why="max over an empty axis")
    add_err("ij->i", [(3, 0)], reduce="min", ref=lambda x: np.min(x[0], axis=1),
            why="min over an empty axis")
    add_err("i,i->i", [(2,), (2,)], reduce="max", why="--reduce=max with several operands")
    add_err("ij->ji", [(2, 3)], sizes=dict(k=3), why="AXIS=N for an unused axis")
    add_err("ij->ji", [(2, 3)], sizes=dict(i=3), why="AXIS=N contradicts the input")
    add_err("ij->i", [(2, 3)], reduce="median", why="unknown --reduce op")

    # einops dialect
    R, D, P = einops.rearrange, einops.reduce, einops.repeat
    add_err("a (b c) -> a b c", [(2, 85)], dict(c=2), ref=lambda x: R(x[0], "a (b c) -> a b c", c=2),
            why="non-divisible decomposition")
    add_err("a (b c) -> a b c", [(2, 6)], ref=lambda x: R(x[0], "a (b c) -> a b c"),
            why="decomposition with two unknowns")
    add_err("a (b c) -> a b c", [(2, 6)], dict(b=2, c=4),
            ref=lambda x: R(x[0], "a (b c) -> a b c", b=2, c=4), why="composition size mismatch")
    add_err("a b -> b a", [(2, 3)], dict(a=3), ref=lambda x: R(x[0], "a b -> b a", a=3),
            why="size word contradicts the input")
    add_err("... a ... -> a", [(2, 3, 4)], ref=lambda x: R(x[0], "... a ... -> a"),
            why="two ellipses")
    add_err("a b -> ... a b", [(2, 3)], ref=lambda x: R(x[0], "a b -> ... a b"),
            why="ellipsis only on the right")
    add_err("a b c d (...) -> a b c ... d", [(2, 3, 4, 5, 6)],
            ref=lambda x: R(x[0], "a b c d (...) ->  a b c ... d"), why="ellipsis in parens (left)")
    add_err("a (b c -> a b c", [(2, 6)], dict(c=2), ref=lambda x: R(x[0], "a (b c -> a b c", c=2),
            why="unbalanced parentheses")
    add_err("a b) -> a b", [(2, 6)], ref=lambda x: R(x[0], "a b) -> a b"),
            why="unbalanced parentheses")
    add_err("a b -> (a b", [(2, 6)], ref=lambda x: R(x[0], "a b -> (a b"),
            why="unbalanced parentheses")
    add_err("a (b (c d)) -> a b c d", [(2, 12)], dict(b=2, c=3),
            ref=lambda x: R(x[0], "a (b (c d)) -> a b c d", b=2, c=3), why="nested parentheses")
    add_err("a $ -> a", [(2, 3)], ref=lambda x: D(x[0], "a $ -> a", "sum"), why="bad character")
    add_err("a b -> a b!", [(2, 3)], ref=lambda x: R(x[0], "a b -> a b!"), why="bad character")
    add_err("a b -> b a", [(2, 3), (2, 3)], why="too many operands")
    add_err("a b, b c -> a c", [(2, 3)], why="too few operands")
    add_err("a b -> b a", [(2, 3)], dict(c=3), ref=lambda x: R(x[0], "a b -> b a", c=3),
            why="unknown size word")
    add_err("a b -> a c", [(2, 3)], dict(c=3), ref=lambda x: P(x[0], "a b -> a c", c=3),
            why="reduce and repeat in one pattern")
    add_err("a b -> a c", [(2, 3)], dict(c=3), reduce="max",
            ref=lambda x: D(x[0], "a b -> a c", "max", c=3), why="reduce and repeat in one pattern")
    add_err("a b -> a", [(3, 0)], reduce="max", ref=lambda x: D(x[0], "a b -> a", "max"),
            why="max over an empty axis")
    add_err("a b -> a", [(3, 0)], reduce="min", ref=lambda x: D(x[0], "a b -> a", "min"),
            why="min over an empty axis")
    add_err("a b c -> a", [(2, 3)], ref=lambda x: D(x[0], "a b c -> a", "sum"),
            why="rank mismatch (too few dims)")
    add_err("a b -> a", [(2, 3, 4)], ref=lambda x: D(x[0], "a b -> a", "sum"),
            why="rank mismatch (too many dims)")
    add_err("a b -> a b c", [(2, 3)], ref=lambda x: P(x[0], "a b -> a b c"),
            why="repeat without a size")
    add_err("h w -> h w c", [(2, 3)], dict(h=5, c=2),
            ref=lambda x: P(x[0], "h w -> h w c", h=5, c=2), why="size word contradicts the input")
    add_err("h w -> h w c", [(2, 3)], dict(c=-1), ref=lambda x: P(x[0], "h w -> h w c", c=-1),
            why="negative repeat size")
    # a repeated input axis is einops.einsum's diagonal (below); reduce and repeat refuse it
    add_err("a a -> a", [(2, 2)], reduce="max", ref=lambda x: D(x[0], "a a -> a", "max"),
            why="duplicate axis (left)")
    add_err("a a -> a c", [(2, 2)], dict(c=2), ref=lambda x: P(x[0], "a a -> a c", c=2),
            why="duplicate axis (left) in a repeat")
    add_err("a b -> a a", [(2, 3)], ref=lambda x: D(x[0], "a b -> a a", "sum"),
            why="duplicate axis (right)")
    add_err("a 1 -> a", [(3, 2)], ref=lambda x: R(x[0], "a 1 -> a"), why="unit axis of length 2")
    add_err("a b, b c -> a c", [(2, 3), (4, 5)],
            ref=lambda x: einops.einsum(x[0], x[1], "a b, b c -> a c"), why="size mismatch")
    add_err("a b, b c -> a c", [(2, 3), (3, 5)], reduce="max",
            why="--reduce=max with several operands")
    add_err("a b, b c -> a c d", [(2, 3), (3, 5)],
            ref=lambda x: einops.einsum(x[0], x[1], "a b, b c -> a c d"),
            why="output axis in no input, no size (einsum)")


# --------------------------------------------------------------------------- running

def run_case(idx, case, workdir):
    d = os.path.join(workdir, "c%d" % idx)
    os.mkdir(d)
    files = []
    for i, a in enumerate(case.inputs):
        np.save(os.path.join(d, "IN%d.npy" % i), a)
        files.append("IN%d.npy" % i)
    out = "OUT.npy"
    argv = case.argv(out, files, idx % 3)
    label = case.label(argv)
    out = os.path.join(d, out)

    def invoke():
        try:
            return subprocess.run([EINC] + argv, capture_output=True, timeout=60, cwd=d)
        except subprocess.TimeoutExpired:
            return None

    if case.error:
        if case.ref_error:
            return "%s: %s" % (label, case.ref_error)
        # 1) an existing -o file must be left byte-identical
        with open(out, "wb") as fh:
            fh.write(POISON)
        p = invoke()
        if p is None:
            return "%s: timed out (expected an error)" % label
        err = p.stderr.decode("utf-8", "replace")
        with open(out, "rb") as fh:
            same = fh.read() == POISON
        if p.returncode == 0:
            return "%s: expected an error (%s), got exit 0" % (label, case.desc[7:])
        if p.returncode < 0 or p.returncode >= 128:
            return "%s: crashed (exit %d) instead of an error" % (label, p.returncode)
        if not err.startswith("einc: error:"):
            return "%s: stderr does not start with 'einc: error:': %r" % (label, err[:200])
        if not same:
            return "%s: the existing -o file was modified" % label
        # 2) a missing -o file must not be created
        os.unlink(out)
        p = invoke()
        if p is None or p.returncode == 0:
            return "%s: second run did not fail" % label
        if sorted(os.listdir(d)) != sorted(files):
            return "%s: -o file (or a temporary) left behind on error" % label
        return None

    with open(out, "wb") as fh:      # poison: a run must replace it
        fh.write(POISON)
    p = invoke()
    if p is None:
        return "%s: timed out" % label
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().splitlines()
        return "%s: exit %d: %s" % (label, p.returncode, " | ".join(err[:3]))
    try:
        got = np.load(out)
    except Exception as e:  # noqa: BLE001
        return "%s: cannot load output: %s" % (label, e)
    exp = case.expected
    if got.shape != exp.shape:
        return "%s: shape %s, expected %s" % (label, got.shape, exp.shape)
    if got.dtype != exp.dtype:
        return "%s: dtype %s, expected %s" % (label, got.dtype, exp.dtype)
    if case.tol is None:
        ok = np.array_equal(got, exp)
    else:
        with np.errstate(invalid="ignore"):
            nan_ok = np.isnan(got) == np.isnan(exp)
            diff = np.abs(got.astype(np.float64) - exp.astype(np.float64))
            close = (diff <= case.tol) | (np.isnan(got) & np.isnan(exp)) \
                | ((got == exp) & np.isinf(exp))
        ok = bool(np.all(nan_ok) and np.all(close))
    if not ok:
        g = np.asarray(got).ravel()
        e = np.asarray(exp).ravel()
        bad = np.flatnonzero(~(np.isclose(g, e, rtol=1e-4, equal_nan=True))
                             if case.tol is not None else g != e)
        i = int(bad[0]) if bad.size else 0
        return "%s: values differ (%d of %d), first at flat %d: got %r, expected %r" % (
            label, bad.size, g.size, i, g[i] if g.size else None, e[i] if e.size else None)
    return None


def main():
    if not (os.path.isfile(EINC) and os.access(EINC, os.X_OK)):
        print("crosscheck: einc binary not found: %s" % EINC)
        return 1
    build_numpy_cases()
    build_numpy_fuzz()
    build_einops_cases()
    build_error_cases()
    workdir = tempfile.mkdtemp(prefix="einc-crosscheck-")
    try:
        with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 2))) as ex:
            results = list(ex.map(lambda ic: run_case(ic[0], ic[1], workdir), enumerate(CASES)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [r for r in results if r is not None]
    for r in failed:
        print("FAIL " + r)
    print("%d passed, %d failed" % (len(results) - len(failed), len(failed)))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
