;; fail-unbound.scm (an expected failure): a reference to an undefined
;; variable inside a procedure is an error when it is reached.

(define (g) (+ 1 undefined-variable-here))
(display "defined g") (newline)
(g)
(display "never printed") (newline)
