;; fail-thread-error.scm (an expected failure): the main thread's error
;; after threads have run and been joined still exits nonzero.

(define t (spawn (lambda () (+ 1 2))))
(display (join t)) (newline)
(error "main thread fails" 'after-join)
