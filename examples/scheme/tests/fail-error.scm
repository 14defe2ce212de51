;; fail-error.scm (an expected failure): the output made before the error
;; is printed, then (error "bad thing:" 42) reports on stderr and the run
;; exits nonzero; nothing after it runs.

(display "before the error") (newline)
(define (f x) (if (> x 2) (error "bad thing:" 42) (begin (display x) (newline) (f (+ x 1)))))
(f 0)
(display "never printed") (newline)
