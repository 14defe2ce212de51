;; deep-recursion.scm: non-tail recursion 100,000 deep: the stack (the VM's
;; value stack) must grow that far, and a collection in the middle of it
;; must see every frame.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define D 100000)

(define (count n) (if (= n 0) 0 (+ 1 (count (- n 1)))))
(show "count" (count D))

;; Building a list recursively (not tail-recursive).
(define (build n) (if (= n 0) '() (cons n (build (- n 1)))))
(define big (build D))
(show "length" (length big))
(show "first" (list (car big) (cadr big) (caddr big)))
(show "last" (list-ref big (- D 1)))

;; A recursive sum over that list.
(define (sum l) (if (null? l) 0 (+ (car l) (sum (cdr l)))))
(show "sum" (sum big))

;; A recursive map and append.
(define (my-map f l) (if (null? l) '() (cons (f (car l)) (my-map f (cdr l)))))
(define doubled (my-map (lambda (x) (* 2 x)) big))
(show "my-map sum" (sum doubled))
(define (my-append a b) (if (null? a) b (cons (car a) (my-append (cdr a) b))))
(show "my-append length" (length (my-append big doubled)))

;; Collections in the deepest frame: each frame holds a fresh pair that
;; must survive.
(define (deep-gc n)
  (if (= n 0)
      (begin (collect-garbage) 0)
      (let ((p (cons n n)))
        (let ((r (deep-gc (- n 1))))
          (+ r (- (car p) (cdr p)) 1)))))
(show "deep with gc at the bottom" (deep-gc D))

;; Deep recursion through map with a non-tail helper.
(define (depth tree) (if (pair? tree) (+ 1 (depth (car tree))) 0))
(define (nest n) (let loop ((i 0) (t '())) (if (= i n) t (loop (+ i 1) (list t)))))
(show "depth of a nested list" (depth (nest D)))

;; Deep recursion with several values live per frame.
(define (fib-like n a b)
  (if (= n 0) (list a b) (let ((r (fib-like (- n 1) b (remainder (+ a b) 1000007)))) r)))
(show "fib-like" (fib-like D 0 1))

;; Build a balanced tree recursively and fold it.
(define (make-tree lo hi)
  (if (> lo hi) '()
      (let ((mid (quotient (+ lo hi) 2)))
        (list mid (make-tree lo (- mid 1)) (make-tree (+ mid 1) hi)))))
(define (tree-sum t) (if (null? t) 0 (+ (car t) (tree-sum (cadr t)) (tree-sum (caddr t)))))
(define tr (make-tree 1 D))
(collect-garbage)
(show "tree sum" (tree-sum tr))
