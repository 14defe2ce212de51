;; closures.scm: closures capture their environment, counters keep private
;; state, set! on captured variables is shared by the closures that share
;; the binding, and closures survive collections.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define (make-counter)
  (let ((n 0))
    (lambda () (set! n (+ n 1)) n)))

(define c1 (make-counter))
(define c2 (make-counter))
(c1) (c1) (c1)
(c2)
(show "c1 after 3 calls, 4th" (c1))
(show "c2 after 1 call, 2nd" (c2))

;; Two closures over one binding.
(define (make-account balance)
  (define (deposit! x) (set! balance (+ balance x)) balance)
  (define (withdraw! x)
    (if (> x balance) 'insufficient (begin (set! balance (- balance x)) balance)))
  (lambda (op . args)
    (cond ((eq? op 'deposit) (apply deposit! args))
          ((eq? op 'withdraw) (apply withdraw! args))
          ((eq? op 'balance) balance)
          (else (list 'unknown op)))))
(define acc (make-account 100))
(show "deposit 50" (acc 'deposit 50))
(show "withdraw 30" (acc 'withdraw 30))
(show "withdraw 500" (acc 'withdraw 500))
(show "balance" (acc 'balance))
(show "unknown" (acc 'frobnicate))

;; Currying and composition.
(define (compose . fs)
  (if (null? fs)
      (lambda (x) x)
      (lambda (x) ((car fs) ((apply compose (cdr fs)) x)))))
(define (adder n) (lambda (x) (+ x n)))
(define (times n) (lambda (x) (* x n)))
(show "compose" ((compose (adder 1) (times 10) (adder 2)) 3))
(show "map adders" (map (lambda (f) (f 100)) (map adder '(1 2 3 4))))

;; Closures created in a loop capture each iteration's own binding (do
;; rebinds its variables on every iteration).
(define thunks
  (do ((i 0 (+ i 1)) (acc '() (cons (lambda () (* i i)) acc)))
      ((= i 6) (reverse acc))))
(show "do-loop closures" (map (lambda (t) (t)) thunks))

;; Named let closures.
(define fs
  (let loop ((i 0) (acc '()))
    (if (= i 5) (reverse acc) (loop (+ i 1) (cons (lambda (x) (+ x i)) acc)))))
(show "named-let closures" (map (lambda (f) (f 10)) fs))

;; Rest arguments and variadic lambdas.
(define (rest-args a b . more) (list a b more))
(show "rest 2" (rest-args 1 2))
(show "rest 4" (rest-args 1 2 3 4))
(show "variadic" ((lambda args args) 1 2 3))
(show "variadic none" ((lambda args args)))
(show "fixed" ((lambda (x y) (- x y)) 10 3))

;; Many counters, collections in between: each keeps its own state.
(define counters
  (let loop ((i 0) (acc '()))
    (if (= i 1000) acc (loop (+ i 1) (cons (make-counter) acc)))))
(for-each (lambda (c) (c)) counters)
(collect-garbage)
(for-each (lambda (c) (c) (c)) counters)
(collect-garbage)
(show "sum of 1000 counters after 4th call"
      (let loop ((cs counters) (s 0)) (if (null? cs) s (loop (cdr cs) (+ s ((car cs)))))))

;; A closure kept only by another closure's environment.
(define (chain n)
  (if (= n 0)
      (lambda () 0)
      (let ((next (chain (- n 1))))
        (lambda () (+ n (next))))))
(define ch (chain 500))
(collect-garbage)
(show "chain of 500 closures" (ch))
