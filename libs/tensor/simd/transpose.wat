;; Batched matrix transpose of 32-bit elements (float32 or int32: bits are only
;; moved, never interpreted) in the tfjs wasm backend's own memory (imported, so
;; no copies):  out[b][j][i] = in[b][i][j]  for in [batch, R, C], out [batch, C, R].
;;
;; The part of each matrix whose rows and columns are multiples of 4 is walked in
;; cache tiles of tr rows × tc columns; inside a tile, 4×4 register blocks are
;; loaded as four v128 rows, transposed with eight i32-lane shuffles and stored
;; as four v128 rows of the output. The last R mod 4 rows and C mod 4 columns are
;; copied one element at a time. Pointers are byte offsets; only 4-byte alignment
;; is assumed (unaligned v128 access is legal in wasm). tr and tc must be
;; positive multiples of 4. src and dst must not overlap.
(module
  (import "env" "memory" (memory 1))
  (func (export "transpose")
    (param $src i32) (param $dst i32) (param $batch i32) (param $R i32) (param $C i32)
    (param $tr i32) (param $tc i32)
    (local $R4 i32) (local $C4 i32) (local $mat i32)
    (local $sr i32) (local $sr2 i32) (local $sr3 i32)
    (local $dr i32) (local $dr2 i32) (local $dr3 i32) (local $dr4 i32)
    (local $ib i32) (local $ie i32) (local $jb i32) (local $je i32) (local $i i32) (local $j i32)
    (local $p i32) (local $pe i32) (local $q i32)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $R4 (i32.and (local.get $R) (i32.const -4)))
    (local.set $C4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $mat (i32.shl (i32.mul (local.get $R) (local.get $C)) (i32.const 2)))
    (local.set $sr (i32.shl (local.get $C) (i32.const 2)))
    (local.set $sr2 (i32.shl (local.get $sr) (i32.const 1)))
    (local.set $sr3 (i32.add (local.get $sr2) (local.get $sr)))
    (local.set $dr (i32.shl (local.get $R) (i32.const 2)))
    (local.set $dr2 (i32.shl (local.get $dr) (i32.const 1)))
    (local.set $dr3 (i32.add (local.get $dr2) (local.get $dr)))
    (local.set $dr4 (i32.shl (local.get $dr) (i32.const 2)))
    (block $batches_done
      (loop $batches
        (br_if $batches_done (i32.eqz (local.get $batch)))

        ;; SIMD part: rows [0, R4) × columns [0, C4), tile by tile.
        (local.set $ib (i32.const 0))
        (block $ib_done
          (loop $ib_loop
            (br_if $ib_done (i32.ge_u (local.get $ib) (local.get $R4)))
            (local.set $ie (i32.add (local.get $ib) (local.get $tr)))
            (if (i32.gt_u (local.get $ie) (local.get $R4)) (then (local.set $ie (local.get $R4))))
            (local.set $jb (i32.const 0))
            (block $jb_done
              (loop $jb_loop
                (br_if $jb_done (i32.ge_u (local.get $jb) (local.get $C4)))
                (local.set $je (i32.add (local.get $jb) (local.get $tc)))
                (if (i32.gt_u (local.get $je) (local.get $C4)) (then (local.set $je (local.get $C4))))
                (local.set $i (local.get $ib))
                (block $i_done
                  (loop $i_loop
                    (br_if $i_done (i32.ge_u (local.get $i) (local.get $ie)))
                    ;; p = &in[i][jb], pe = &in[i][je], q = &out[jb][i]
                    (local.set $p (i32.add (local.get $src)
                      (i32.shl (i32.add (i32.mul (local.get $i) (local.get $C)) (local.get $jb)) (i32.const 2))))
                    (local.set $pe (i32.add (local.get $p)
                      (i32.shl (i32.sub (local.get $je) (local.get $jb)) (i32.const 2))))
                    (local.set $q (i32.add (local.get $dst)
                      (i32.shl (i32.add (i32.mul (local.get $jb) (local.get $R)) (local.get $i)) (i32.const 2))))
                    (loop $block4
                      (local.set $a (v128.load align=4 (local.get $p)))
                      (local.set $b (v128.load align=4 (i32.add (local.get $p) (local.get $sr))))
                      (local.set $c (v128.load align=4 (i32.add (local.get $p) (local.get $sr2))))
                      (local.set $d (v128.load align=4 (i32.add (local.get $p) (local.get $sr3))))
                      ;; t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = c0 d0 c1 d1, t3 = c2 d2 c3 d3
                      (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                        (local.get $a) (local.get $b)))
                      (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                        (local.get $a) (local.get $b)))
                      (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                        (local.get $c) (local.get $d)))
                      (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                        (local.get $c) (local.get $d)))
                      ;; out rows: a0 b0 c0 d0 | a1 b1 c1 d1 | a2 b2 c2 d2 | a3 b3 c3 d3
                      (v128.store align=4 (local.get $q)
                        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
                      (v128.store align=4 (i32.add (local.get $q) (local.get $dr))
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
                      (v128.store align=4 (i32.add (local.get $q) (local.get $dr2))
                        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
                      (v128.store align=4 (i32.add (local.get $q) (local.get $dr3))
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
                      (local.set $p (i32.add (local.get $p) (i32.const 16)))
                      (local.set $q (i32.add (local.get $q) (local.get $dr4)))
                      (br_if $block4 (i32.lt_u (local.get $p) (local.get $pe))))
                    (local.set $i (i32.add (local.get $i) (i32.const 4)))
                    (br $i_loop)))
                (local.set $jb (local.get $je))
                (br $jb_loop)))
            (local.set $ib (local.get $ie))
            (br $ib_loop)))

        ;; Columns [C4, C) of every row.
        (local.set $i (i32.const 0))
        (block $ci_done
          (loop $ci_loop
            (br_if $ci_done (i32.ge_u (local.get $i) (local.get $R)))
            (local.set $j (local.get $C4))
            (block $cj_done
              (loop $cj_loop
                (br_if $cj_done (i32.ge_u (local.get $j) (local.get $C)))
                (i32.store (i32.add (local.get $dst)
                    (i32.shl (i32.add (i32.mul (local.get $j) (local.get $R)) (local.get $i)) (i32.const 2)))
                  (i32.load (i32.add (local.get $src)
                    (i32.shl (i32.add (i32.mul (local.get $i) (local.get $C)) (local.get $j)) (i32.const 2)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cj_loop)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $ci_loop)))

        ;; Rows [R4, R), columns [0, C4).
        (local.set $i (local.get $R4))
        (block $ri_done
          (loop $ri_loop
            (br_if $ri_done (i32.ge_u (local.get $i) (local.get $R)))
            (local.set $j (i32.const 0))
            (block $rj_done
              (loop $rj_loop
                (br_if $rj_done (i32.ge_u (local.get $j) (local.get $C4)))
                (i32.store (i32.add (local.get $dst)
                    (i32.shl (i32.add (i32.mul (local.get $j) (local.get $R)) (local.get $i)) (i32.const 2)))
                  (i32.load (i32.add (local.get $src)
                    (i32.shl (i32.add (i32.mul (local.get $i) (local.get $C)) (local.get $j)) (i32.const 2)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $rj_loop)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $ri_loop)))

        (local.set $src (i32.add (local.get $src) (local.get $mat)))
        (local.set $dst (i32.add (local.get $dst) (local.get $mat)))
        (local.set $batch (i32.sub (local.get $batch) (i32.const 1)))
        (br $batches)))
  )
)
