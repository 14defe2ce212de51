;; symbols.scm: symbols made at run time (string->symbol) stay interned
;; across collections: re-interning the same name gives an eq? symbol,
;; whether the symbol was kept by a variable, only by a data structure, or
;; by nothing at all (then a fresh symbol may be made, but it must still
;; print as its name and be eq? to every later intern of that name).

(define (show label v) (display label) (display ": ") (write v) (newline))

(define (name i) (string-append "sym-" (number->string i)))

(define s1 (string->symbol "hello-symbol"))
(collect-garbage) (collect-garbage) (collect-garbage)
(show "re-interned eq?" (eq? s1 (string->symbol "hello-symbol")))
(show "literal eq?" (eq? s1 'hello-symbol))
(show "name" (symbol->string s1))

;; 2000 symbols kept only in a list and a vector.
(define in-list (let loop ((i 0) (acc '())) (if (= i 2000) acc (loop (+ i 1) (cons (string->symbol (name i)) acc)))))
(define in-vector (make-vector 1 #f))
(vector-set! in-vector 0 (list->vector (map (lambda (s) (list s)) in-list)))
(set! in-list #f)
;; Churn: make and drop many other symbols and strings.
(let loop ((i 0)) (when (< i 20000) (string->symbol (string-append "junk-" (number->string i))) (loop (+ i 1))))
(collect-garbage) (collect-garbage) (collect-garbage)
(define v (vector-ref in-vector 0))
(show "vector length" (vector-length v))
(show "all still eq? to their re-interned name"
      (let loop ((i 0) (ok 0))
        (if (= i (vector-length v)) ok
            (let ((s (car (vector-ref v i))))
              (loop (+ i 1) (if (eq? s (string->symbol (symbol->string s))) (+ ok 1) ok))))))
(show "names match positions"
      (let loop ((i 0) (ok 0))
        (if (= i 2000) ok
            (loop (+ i 1) (if (eq? (car (vector-ref v i)) (string->symbol (name (- 1999 i)))) (+ ok 1) ok)))))
(show "first and last" (list (car (vector-ref v 0)) (car (vector-ref v 1999))))

;; A symbol kept only as a hash table key.
(define t (make-hash-table))
(hash-table-set! t (string->symbol "table-key") 'found)
(collect-garbage) (collect-garbage)
(show "table lookup by re-interned key" (hash-table-ref/default t (string->symbol "table-key") 'missing))

;; A symbol kept only inside a closure's environment.
(define get (let ((s (string->symbol (string-append "clo" "sure"))))
              (lambda () s)))
(collect-garbage)
(show "closure symbol eq?" (eq? (get) 'closure))

;; Dropped symbols: interning the same names again gives symbols that are
;; equal by name and eq? to each other.
(let loop ((i 0)) (when (< i 1000) (string->symbol (string-append "gone-" (number->string i))) (loop (+ i 1))))
(collect-garbage) (collect-garbage)
(show "re-made dropped symbols consistent"
      (let loop ((i 0) (ok 0))
        (if (= i 1000) ok
            (let ((nm (string-append "gone-" (number->string i))))
              (loop (+ i 1) (if (and (eq? (string->symbol nm) (string->symbol nm))
                                     (string=? (symbol->string (string->symbol nm)) nm))
                                (+ ok 1) ok))))))

;; Unicode names.
(define lam (string->symbol "λ-calcul-é"))
(collect-garbage)
(show "unicode symbol" lam)
(show "unicode eq?" (eq? lam (string->symbol (string-append "λ-" "calcul-é"))))
(show "symbol? " (list (symbol? lam) (symbol? "λ") (symbol? 'a)))
