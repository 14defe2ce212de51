;; tail.scm: proper tail calls. Every loop below runs 1,000,000 iterations
;; and must run in constant space (the other forms' loops 300,000) (no stack growth): a named let, a
;; define'd loop, mutual recursion (even?/odd?) through define and through
;; letrec, and tail calls in the branches of if, cond, case, and, or,
;; when, unless, begin, let, and through apply.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define N 1000000)
;; The other forms' loops: 300,000 iterations each (the suite's time).
(define M 300000)

(show "named let sum" (let loop ((i 0) (s 0)) (if (= i N) s (loop (+ i 1) (+ s i)))))

(define (count-down n) (if (= n 0) 'done (count-down (- n 1))))
(show "define loop" (count-down N))

(define (my-even? n) (if (= n 0) #t (my-odd? (- n 1))))
(define (my-odd? n) (if (= n 0) #f (my-even? (- n 1))))
(show "even? 1000000" (my-even? N))
(show "odd? 1000001" (my-odd? (+ N 1)))

(show "letrec even/odd"
      (letrec ((ev? (lambda (n) (if (= n 0) #t (od? (- n 1)))))
               (od? (lambda (n) (if (= n 0) #f (ev? (- n 1))))))
        (list (ev? N) (od? N))))

;; Tail position inside cond, case, and, or, when, unless, let, begin.
(define (via-cond n acc)
  (cond ((= n 0) acc)
        ((even? n) (via-cond (- n 1) (+ acc 2)))
        (else (via-cond (- n 1) (+ acc 1)))))
(show "cond" (via-cond M 0))

(define (via-case n)
  (case (remainder n 3)
    ((0) (if (= n 0) 'case-done (via-case (- n 1))))
    ((1) (via-case (- n 1)))
    (else (via-case (- n 1)))))
(show "case" (via-case M))

(define (via-and n) (and (>= n 0) (or (= n 0) (via-and (- n 1)))))
(show "and/or" (via-and M))

(define (via-when n acc)
  (when (>= n 0)
    (if (= n 0) acc (via-when (- n 1) (+ acc 1)))))
(show "when" (via-when M 0))

(define (via-unless n)
  (unless (< n 0)
    (if (= n 0) 'unless-done (via-unless (- n 1)))))
(show "unless" (via-unless M))

(define (via-let n)
  (let ((m (- n 1)))
    (let* ((k m))
      (begin
        (if (< k 0) 'let-done (via-let k))))))
(show "let/let*/begin" (via-let M))

(define (via-apply n) (if (= n 0) 'apply-done (apply via-apply (list (- n 1)))))
(show "apply" (via-apply M))

;; A do loop building nothing.
(show "do" (do ((i 0 (+ i 1)) (s 0 (+ s 2))) ((= i M) s)))

;; A tail-calling loop that allocates: garbage per iteration, constant live size.
(define (churn n acc)
  (if (= n 0) acc (churn (- n 1) (car (list (+ acc 1) 'garbage (make-vector 2 n))))))
(show "allocating loop" (churn M 0))
