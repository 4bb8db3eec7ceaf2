;; One fused MINE training pass over a dense weight W [R, C] (libs/mine, the
;; 11664→512 layer of a conv branch), in the tfjs wasm heap (imported memory).
;; For a layer h = W·zᵀ (+ bias) with inputs z [n, C] and upstream gradient
;; dh [R, n], one pass reads w, m, v once and
;;   dz[j,c] = Σ_r dh[r,j]·w[r,c]              (input gradient, with the OLD w)
;;   g[r,c]  = Σ_j dh[r,j]·z[j,c]              (rank-n weight gradient, never stored)
;;   m' = b1·m + (1−b1)·g,  v' = b2·v + (1−b2)·g²,  w' = w − step·m'/(√v' + eps)
;; (TF1 Adam, the same formula and operation order as adam.wat, so only the
;; summation order of g and dz differs from the unfused path.)
;;
;; Loop order: column blocks of cb columns (z and dz of one block, 2·n·cb
;; floats, stay in L1 while every row streams past), then quads of rows (each
;; z and dz vector loaded once serves four rows), then 4-lane column vectors.
;; Requires R % 4 = 0, C % 4 = 0, cb % 4 = 0; 16-byte-aligned arrays (tfjs-wasm
;; mallocs are). dz is overwritten. wo, mo, vo may be w, m, v (in place):
;; every element is read before it is written, at the same offset.
(module
  (import "env" "memory" (memory 1))
  (func (export "mine_dense")
    (param $w i32) (param $m i32) (param $v i32)
    (param $wo i32) (param $mo i32) (param $vo i32)
    (param $z i32) (param $dh i32) (param $dz i32)
    (param $R i32) (param $C i32) (param $n i32) (param $cb i32)
    (param $b1 f32) (param $b2 f32) (param $step f32) (param $eps f32)
    (local $c0 i32) (local $c1 i32) (local $r i32) (local $c i32) (local $j i32)
    (local $rowB i32)      ;; bytes per row of W (C·4)
    (local $o i32)         ;; byte offset of (r, c) in W
    (local $zp i32) (local $dzp i32) (local $dhp i32) (local $dhRowB i32) (local $dhRow3B i32) (local $dhEnd i32)
    (local $vb1 v128) (local $vc1 v128) (local $vb2 v128) (local $vc2 v128)
    (local $vstep v128) (local $veps v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $g0 v128) (local $g1 v128) (local $g2 v128) (local $g3 v128)
    (local $zj v128) (local $d v128) (local $s v128)
    (local $mv v128) (local $vv v128)
    (local.set $vb1 (f32x4.splat (local.get $b1)))
    (local.set $vc1 (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))
    (local.set $vb2 (f32x4.splat (local.get $b2)))
    (local.set $vc2 (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))
    (local.set $vstep (f32x4.splat (local.get $step)))
    (local.set $veps (f32x4.splat (local.get $eps)))
    (local.set $rowB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $dhRowB (i32.shl (local.get $n) (i32.const 2)))
    (local.set $dhRow3B (i32.mul (local.get $dhRowB) (i32.const 3)))
    (local.set $c0 (i32.const 0))
    (block $blocksDone
      (loop $blocks
        (br_if $blocksDone (i32.ge_u (local.get $c0) (local.get $C)))
        (local.set $c1 (i32.add (local.get $c0) (local.get $cb)))
        (if (i32.gt_u (local.get $c1) (local.get $C)) (then (local.set $c1 (local.get $C))))
        ;; dz[:, c0:c1] = 0
        (local.set $j (i32.const 0))
        (block $zeroDone
          (loop $zeroRows
            (br_if $zeroDone (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $c (local.get $c0))
            (block $zcDone
              (loop $zcols
                (br_if $zcDone (i32.ge_u (local.get $c) (local.get $c1)))
                (v128.store
                  (i32.add (local.get $dz)
                    (i32.shl (i32.add (i32.mul (local.get $j) (local.get $C)) (local.get $c)) (i32.const 2)))
                  (v128.const i32x4 0 0 0 0))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $zcols)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $zeroRows)))
        (local.set $r (i32.const 0))
        (block $rowsDone
          (loop $rows
            (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $R)))
            (local.set $c (local.get $c0))
            (block $colsDone
              (loop $cols
                (br_if $colsDone (i32.ge_u (local.get $c) (local.get $c1)))
                (local.set $o (i32.add (i32.mul (local.get $r) (local.get $rowB)) (i32.shl (local.get $c) (i32.const 2))))
                (local.set $w0 (v128.load (i32.add (local.get $w) (local.get $o))))
                (local.set $w1 (v128.load (i32.add (local.get $w) (i32.add (local.get $o) (local.get $rowB)))))
                (local.set $w2 (v128.load (i32.add (local.get $w) (i32.add (local.get $o) (i32.shl (local.get $rowB) (i32.const 1))))))
                (local.set $w3 (v128.load (i32.add (local.get $w) (i32.add (local.get $o) (i32.mul (local.get $rowB) (i32.const 3))))))
                (local.set $g0 (v128.const i32x4 0 0 0 0))
                (local.set $g1 (v128.const i32x4 0 0 0 0))
                (local.set $g2 (v128.const i32x4 0 0 0 0))
                (local.set $g3 (v128.const i32x4 0 0 0 0))
                (local.set $zp (i32.add (local.get $z) (i32.shl (local.get $c) (i32.const 2))))
                (local.set $dzp (i32.add (local.get $dz) (i32.shl (local.get $c) (i32.const 2))))
                (local.set $dhp (i32.add (local.get $dh) (i32.mul (local.get $r) (local.get $dhRowB))))
                ;; dh rows r..r+3 are read at dhp, dhp + dhRowB, + 2·dhRowB, + 3·dhRowB.
                (local.set $dhEnd (i32.add (local.get $dhp) (local.get $dhRowB)))
                (block $drawsDone
                  (loop $draws
                    (br_if $drawsDone (i32.ge_u (local.get $dhp) (local.get $dhEnd)))
                    (local.set $zj (v128.load (local.get $zp)))
                    (local.set $d (v128.load (local.get $dzp)))
                    (local.set $s (v128.load32_splat (local.get $dhp)))
                    (local.set $g0 (f32x4.add (local.get $g0) (f32x4.mul (local.get $s) (local.get $zj))))
                    (local.set $d (f32x4.add (local.get $d) (f32x4.mul (local.get $s) (local.get $w0))))
                    (local.set $s (v128.load32_splat (i32.add (local.get $dhp) (local.get $dhRowB))))
                    (local.set $g1 (f32x4.add (local.get $g1) (f32x4.mul (local.get $s) (local.get $zj))))
                    (local.set $d (f32x4.add (local.get $d) (f32x4.mul (local.get $s) (local.get $w1))))
                    (local.set $s (v128.load32_splat (i32.add (local.get $dhp) (i32.shl (local.get $dhRowB) (i32.const 1)))))
                    (local.set $g2 (f32x4.add (local.get $g2) (f32x4.mul (local.get $s) (local.get $zj))))
                    (local.set $d (f32x4.add (local.get $d) (f32x4.mul (local.get $s) (local.get $w2))))
                    (local.set $s (v128.load32_splat (i32.add (local.get $dhp) (local.get $dhRow3B))))
                    (local.set $g3 (f32x4.add (local.get $g3) (f32x4.mul (local.get $s) (local.get $zj))))
                    (local.set $d (f32x4.add (local.get $d) (f32x4.mul (local.get $s) (local.get $w3))))
                    (v128.store (local.get $dzp) (local.get $d))
                    (local.set $zp (i32.add (local.get $zp) (local.get $rowB)))
                    (local.set $dzp (i32.add (local.get $dzp) (local.get $rowB)))
                    (local.set $dhp (i32.add (local.get $dhp) (i32.const 4)))
                    (br $draws)))
                ;; Adam on the four rows (as adam.wat), row r+i at byte offset o + i·rowB.
                (local.set $mv
                  (f32x4.add
                    (f32x4.mul (local.get $vb1) (v128.load (i32.add (local.get $m) (local.get $o))))
                    (f32x4.mul (local.get $vc1) (local.get $g0))))
                (local.set $vv
                  (f32x4.add
                    (f32x4.mul (local.get $vb2) (v128.load (i32.add (local.get $v) (local.get $o))))
                    (f32x4.mul (local.get $vc2) (f32x4.mul (local.get $g0) (local.get $g0)))))
                (v128.store (i32.add (local.get $mo) (local.get $o)) (local.get $mv))
                (v128.store (i32.add (local.get $vo) (local.get $o)) (local.get $vv))
                (v128.store (i32.add (local.get $wo) (local.get $o))
                  (f32x4.sub (local.get $w0)
                    (f32x4.div
                      (f32x4.mul (local.get $vstep) (local.get $mv))
                      (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $veps)))))
                (local.set $o (i32.add (local.get $o) (local.get $rowB)))
                (local.set $mv
                  (f32x4.add
                    (f32x4.mul (local.get $vb1) (v128.load (i32.add (local.get $m) (local.get $o))))
                    (f32x4.mul (local.get $vc1) (local.get $g1))))
                (local.set $vv
                  (f32x4.add
                    (f32x4.mul (local.get $vb2) (v128.load (i32.add (local.get $v) (local.get $o))))
                    (f32x4.mul (local.get $vc2) (f32x4.mul (local.get $g1) (local.get $g1)))))
                (v128.store (i32.add (local.get $mo) (local.get $o)) (local.get $mv))
                (v128.store (i32.add (local.get $vo) (local.get $o)) (local.get $vv))
                (v128.store (i32.add (local.get $wo) (local.get $o))
                  (f32x4.sub (local.get $w1)
                    (f32x4.div
                      (f32x4.mul (local.get $vstep) (local.get $mv))
                      (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $veps)))))
                (local.set $o (i32.add (local.get $o) (local.get $rowB)))
                (local.set $mv
                  (f32x4.add
                    (f32x4.mul (local.get $vb1) (v128.load (i32.add (local.get $m) (local.get $o))))
                    (f32x4.mul (local.get $vc1) (local.get $g2))))
                (local.set $vv
                  (f32x4.add
                    (f32x4.mul (local.get $vb2) (v128.load (i32.add (local.get $v) (local.get $o))))
                    (f32x4.mul (local.get $vc2) (f32x4.mul (local.get $g2) (local.get $g2)))))
                (v128.store (i32.add (local.get $mo) (local.get $o)) (local.get $mv))
                (v128.store (i32.add (local.get $vo) (local.get $o)) (local.get $vv))
                (v128.store (i32.add (local.get $wo) (local.get $o))
                  (f32x4.sub (local.get $w2)
                    (f32x4.div
                      (f32x4.mul (local.get $vstep) (local.get $mv))
                      (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $veps)))))
                (local.set $o (i32.add (local.get $o) (local.get $rowB)))
                (local.set $mv
                  (f32x4.add
                    (f32x4.mul (local.get $vb1) (v128.load (i32.add (local.get $m) (local.get $o))))
                    (f32x4.mul (local.get $vc1) (local.get $g3))))
                (local.set $vv
                  (f32x4.add
                    (f32x4.mul (local.get $vb2) (v128.load (i32.add (local.get $v) (local.get $o))))
                    (f32x4.mul (local.get $vc2) (f32x4.mul (local.get $g3) (local.get $g3)))))
                (v128.store (i32.add (local.get $mo) (local.get $o)) (local.get $mv))
                (v128.store (i32.add (local.get $vo) (local.get $o)) (local.get $vv))
                (v128.store (i32.add (local.get $wo) (local.get $o))
                  (f32x4.sub (local.get $w3)
                    (f32x4.div
                      (f32x4.mul (local.get $vstep) (local.get $mv))
                      (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $veps)))))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $cols)))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $rows)))
        (local.set $c0 (local.get $c1))
        (br $blocks))))
)
