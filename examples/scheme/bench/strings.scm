;; strings.scm: building and dropping strings: string-append chains,
;; number->string, substring, string ports (write into an output string
;; port, read it back through an input one), string->list/list->string.
;; Prints a checksum of what it built.

(define (build-line i)
  (string-append "item-" (number->string i) ":" (number->string (* i i) 16) ";"))

(define (round-append n)
  ;; n lines appended one by one into one growing string, dropped after.
  (let loop ((i 0) (s "") (len 0))
    (if (= i n) len
        (let ((l (build-line i)))
          (loop (+ i 1) (if (> (string-length s) 2000) l (string-append s l)) (+ len (string-length l)))))))

(define (round-port n)
  (let ((out (open-output-string)))
    (let loop ((i 0))
      (when (< i n)
        (display "line " out) (write i out) (display #\space out) (write (list i "s") out) (newline out)
        (loop (+ i 1))))
    (let ((in (open-input-string (get-output-string out))))
      (let loop ((lines 0) (chars 0))
        (let ((l (read-line in)))
          (if (eof-object? l) (+ lines chars)
              (loop (+ lines 1) (+ chars (string-length l)))))))))

(define (round-chars n)
  (let loop ((i 0) (sum 0))
    (if (= i n) sum
        (let* ((s (build-line i))
               (r (list->string (reverse (string->list s))))
               (sub (substring r 1 (- (string-length r) 1))))
          (loop (+ i 1) (+ sum (string-length sub) (char->integer (string-ref sub 0))))))))

(define (run rounds)
  (let loop ((k 0) (sum 0))
    (if (= k rounds) sum
        (loop (+ k 1) (remainder (+ sum (round-append 2000) (round-port 1000) (round-chars 1000)) 1000000007)))))

(display "checksum: ") (display (run 150)) (newline)
