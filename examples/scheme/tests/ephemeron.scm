;; ephemeron.scm: the weak-key table is an ephemeron table: an entry's
;; value is kept only while its key is reachable from outside the table,
;; so a value that refers to its own key does not keep the key alive.
;;
;; GNU Guile 3.0's weak-key tables are NOT ephemerons: a value referring to
;; its key keeps the entry forever. Lines that only an ephemeron table
;; guarantees begin with "exact: "; tests/guile-check.sh leaves them out of
;; the comparison with Guile (Guile prints #f there), and the .out file
;; holds what our interpreter must print (#t). Every other line is the
;; same on both.

(define (show label v) (display label) (display ": ") (write v) (newline))
(define (exact label v) (display "exact: ") (show label v))

(define K 100)
(define D 2000)
(define t (make-weak-key-hash-table))

;; Kept keys, each with a value that refers to its key.
(define kept (let loop ((i 0) (acc '())) (if (= i K) acc (loop (+ i 1) (cons (list 'k i) acc)))))
(for-each (lambda (k) (hash-table-set! t k (cons k (cadr k)))) kept)
;; Dropped keys whose values refer to their keys.
(let loop ((i 0))
  (when (< i D)
    (let ((k (list 'd i)))
      (hash-table-set! t k (vector k k i)))
    (loop (+ i 1))))
(show "size before at most the total" (<= (hash-table-size t) (+ K D)))

(collect-garbage) (collect-garbage) (collect-garbage)

(show "kept: found with their own key in the value"
      (let loop ((ks kept) (n 0))
        (if (null? ks) n
            (let ((v (hash-table-ref/default t (car ks) #f)))
              (loop (cdr ks) (if (and v (eq? (car v) (car ks)) (= (cdr v) (cadr (car ks)))) (+ n 1) n))))))
(define size-after (hash-table-size t))
(show "size between kept and total" (and (>= size-after K) (<= size-after (+ K D))))
(exact "self-referencing dropped entries collected (at most 1% left)" (<= (- size-after K) (quotient D 100)))

;; A chain through ephemerons: key i's value holds key i+1. Only the head
;; is kept outside the table: the whole chain stays (on both collectors).
(define t2 (make-weak-key-hash-table))
(define L 300)
(define head
  (let ((keys (let loop ((i 0) (acc '())) (if (= i L) (reverse acc) (loop (+ i 1) (cons (list 'chain i) acc))))))
    (let link ((ks keys))
      (when (pair? (cdr ks))
        (hash-table-set! t2 (car ks) (cadr ks))
        (link (cdr ks))))
    (hash-table-set! t2 (list-ref keys (- L 1)) 'end)
    (car keys)))
(collect-garbage) (collect-garbage)
(show "chain from a kept head"
      (let walk ((k head) (n 1))
        (let ((v (hash-table-ref/default t2 k #f)))
          (cond ((eq? v 'end) (list n 'end))
                ((pair? v) (walk v (+ n 1)))
                (else (list n 'broken))))))
(show "chain entries" (hash-table-size t2))

;; Drop the head: the chain's keys are reachable only through values of
;; entries whose keys are dead, so the whole chain goes.
(set! head #f)
(collect-garbage) (collect-garbage) (collect-garbage)
(define size-chain (hash-table-size t2))
(show "chain size at most its length" (<= size-chain L))
(exact "dropped chain collected (at most 1% left)" (<= size-chain (quotient L 100)))

;; A value referring to a kept key of ANOTHER entry keeps nothing extra alive.
(define t3 (make-weak-key-hash-table))
(define anchor (list 'anchor))
(hash-table-set! t3 anchor 'anchor-value)
(let loop ((i 0))
  (when (< i 500)
    (hash-table-set! t3 (list 'leaf i) anchor)
    (loop (+ i 1))))
(collect-garbage) (collect-garbage) (collect-garbage)
(show "anchor found" (hash-table-ref/default t3 anchor #f))
(show "leaves whose value is a live key: at most 1% left" (<= (- (hash-table-size t3) 1) 5))
