;;; guile-compat.scm: what GNU Guile 3.0 needs to run the tests and the
;;; benchmarks of examples/scheme/ with the names our interpreter uses.
;;; Load it before a program:
;;;   guile --no-auto-compile -l tests/guile-compat.scm tests/NAME.scm
;;; Our interpreter does not read this file: every name here is built in.

(use-modules (srfi srfi-9)          ; define-record-type
             (srfi srfi-11)         ; let-values
             (ice-9 rdelim)         ; read-line
             (ice-9 threads)        ; call-with-new-thread, join-thread, mutexes
             ((srfi srfi-69) #:prefix srfi69:))

;; Threads: (spawn thunk) returns a thread; (join t) returns the thunk's value.
(define (spawn thunk) (call-with-new-thread thunk))
(define (join t) (join-thread t))

;; Mutexes: Guile's make-mutex is ours; lock-mutex/unlock-mutex are the
;; operations (ice-9 threads) exports.
(define (mutex-lock! m) (lock-mutex m))
(define (mutex-unlock! m) (unlock-mutex m))

;; A full collection.
(define (collect-garbage) (gc))

;; Hash tables. make-hash-table makes an SRFI-69 table (equal?, the
;; default); make-weak-key-hash-table makes one of Guile's native weak-key
;; tables (eqv? keys would do for the tests: they use symbols, pairs and
;; records as keys; Guile's weak tables compare with eq? through hashq-*).
;; The hash-table-* procedures dispatch on the table's kind, so a program
;; uses the same names for both, as it does with our interpreter.
(define (make-hash-table . args) (apply srfi69:make-hash-table args))
(define (make-weak-key-hash-table . size)
  ;; Guile's own weak-key-hash-table (an ephemeron-like weak table).
  ((@ (guile) make-weak-key-hash-table) (if (null? size) 31 (car size))))
(define (native-table? t) (weak-key-hash-table? t))
(define (hash-table-set! t k v)
  (if (native-table? t) (begin (hashq-set! t k v) (if #f #f)) (srfi69:hash-table-set! t k v)))
(define (hash-table-ref/default t k d)
  (if (native-table? t) (hashq-ref t k d) (srfi69:hash-table-ref/default t k d)))
(define (hash-table-delete! t k)
  (if (native-table? t) (begin (hashq-remove! t k) (if #f #f)) (srfi69:hash-table-delete! t k)))
(define (hash-table-size t)
  (if (native-table? t) (hash-fold (lambda (k v n) (+ n 1)) 0 t) (srfi69:hash-table-size t)))
