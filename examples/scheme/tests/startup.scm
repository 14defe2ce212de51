;; startup.scm: the prelude (procedures written in Scheme, compiled at
;; start) and the keywords it needs survive collections during start-up.
;; make scheme-test also runs it with TRICOLOR_DEBUG=gcstress=1, a cycle
;; at every span refill: the compiler's keywords were interned before
;; their root range was registered, collected by such a cycle, and the
;; prelude's (define (map f l . ls) ...) failed as a bad call.
(display (map (lambda (x) (* x x)) '(1 2 3)))
(newline)
(for-each (lambda (x y) (display (+ x y)) (newline)) '(1 2) '(10 20))
