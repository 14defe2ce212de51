;; fail-car.scm (an expected failure): (car '()) is an error: the output
;; before it is printed, then the run exits nonzero.

(display (list 1 2 3)) (newline)
(write "still fine") (newline)
(display (car (cdr (cdr (cdr (list 1 2 3)))))) (newline)
(display "never printed") (newline)
