;; Fused Adam update over float32 arrays in the tfjs wasm backend's own memory
;; (imported, so no copies). Four lanes per step with wasm SIMD, scalar tail.
;;   m' = b1·m + (1−b1)·g
;;   v' = b2·v + (1−b2)·g²
;;   w' = w − step·m' / (√v' + eps)        (step = lrT·direction)
;; All pointers are byte offsets of 16-byte-aligned float32 arrays of n elements
;; (tfjs-wasm allocates with malloc, which aligns to 16); outputs may alias inputs.
(module
  (import "env" "memory" (memory 1))
  (func (export "adam")
    (param $w i32) (param $g i32) (param $m i32) (param $v i32)
    (param $wo i32) (param $mo i32) (param $vo i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $step f32) (param $eps f32)
    (local $i i32) (local $off i32) (local $n4 i32)
    (local $vb1 v128) (local $vc1 v128) (local $vb2 v128) (local $vc2 v128)
    (local $vstep v128) (local $veps v128)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $vb1 (f32x4.splat (local.get $b1)))
    (local.set $vc1 (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))
    (local.set $vb2 (f32x4.splat (local.get $b2)))
    (local.set $vc2 (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))
    (local.set $vstep (f32x4.splat (local.get $step)))
    (local.set $veps (f32x4.splat (local.get $eps)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $i (i32.const 0))
    (block $done4
      (loop $lanes
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $off))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (local.get $vb1) (v128.load (i32.add (local.get $m) (local.get $off))))
            (f32x4.mul (local.get $vc1) (local.get $gv))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (local.get $vb2) (v128.load (i32.add (local.get $v) (local.get $off))))
            (f32x4.mul (local.get $vc2) (f32x4.mul (local.get $gv) (local.get $gv)))))
        (v128.store (i32.add (local.get $mo) (local.get $off)) (local.get $mv))
        (v128.store (i32.add (local.get $vo) (local.get $off)) (local.get $vv))
        (v128.store (i32.add (local.get $wo) (local.get $off))
          (f32x4.sub
            (v128.load (i32.add (local.get $w) (local.get $off)))
            (f32x4.div
              (f32x4.mul (local.get $vstep) (local.get $mv))
              (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $veps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $lanes)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $off))))
        (local.set $ms
          (f32.add
            (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $off))))
            (f32.mul (f32.sub (f32.const 1) (local.get $b1)) (local.get $gs))))
        (local.set $vs
          (f32.add
            (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $off))))
            (f32.mul (f32.sub (f32.const 1) (local.get $b2)) (f32.mul (local.get $gs) (local.get $gs)))))
        (f32.store (i32.add (local.get $mo) (local.get $off)) (local.get $ms))
        (f32.store (i32.add (local.get $vo) (local.get $off)) (local.get $vs))
        (f32.store (i32.add (local.get $wo) (local.get $off))
          (f32.sub
            (f32.load (i32.add (local.get $w) (local.get $off)))
            (f32.div
              (f32.mul (local.get $step) (local.get $ms))
              (f32.add (f32.sqrt (local.get $vs)) (local.get $eps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))
)
