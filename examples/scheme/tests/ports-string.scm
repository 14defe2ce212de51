;; ports-string.scm: string ports: open-output-string / get-output-string,
;; display and write into them, open-input-string with read-char,
;; peek-char, read-line and read, UTF-8 text, and many ports built and
;; dropped.

(define (show label v) (display label) (display ": ") (write v) (newline))

(define out (open-output-string))
(display "hello" out)
(display #\space out)
(write "quoted \"string\"" out)
(display #\space out)
(write #\a out)
(display #\space out)
(write '(1 (2 . 3) #(4 5) "six" #\7 sym) out)
(newline out)
(display 42 out)
(show "output string" (get-output-string out))
(show "again (not reset)" (string-length (get-output-string out)))
(display "!" out)
(show "appended" (substring (get-output-string out) 0 5))

(define in (open-input-string "ab\ncd\n\nλé😀 end"))
(show "peek-char" (peek-char in))
(show "peek-char again" (peek-char in))
(show "read-char" (read-char in))
(show "read-line" (read-line in))
(show "read-line" (read-line in))
(show "read-line (empty)" (read-line in))
(show "read-char λ" (read-char in))
(show "read-char é" (read-char in))
(show "read-char emoji" (read-char in))
(show "read-line rest" (read-line in))
(show "eof after" (eof-object? (read-char in)))
(show "peek at eof" (eof-object? (peek-char in)))
(show "read-line at eof" (eof-object? (read-line in)))

(define (read-all s)
  (let ((p (open-input-string s)))
    (let loop ((acc '()))
      (let ((x (read p)))
        (if (eof-object? x) (reverse acc) (loop (cons x acc)))))))
(show "read data" (read-all "(a b . c) 42 -7 \"s\\\"q\" #\\x #t #f () #(1 2) foo-bar λ"))
(show "read nested" (read-all "((1 2) ((3)) (((4 . 5))))"))
(show "read quote forms" (read-all "'a `(b ,c ,@d)"))
(show "read with comments" (read-all "1 ; comment\n 2 ;; another\n3"))

;; Round trip: write then read.
(define data '(1 "two" #\3 (four . 5) #(6 "seven") eight))
(define rt (let ((p (open-output-string))) (write data p) (get-output-string p)))
(show "round trip equal?" (equal? data (read (open-input-string rt))))

;; Many string ports created and dropped.
(define (build i)
  (let ((p (open-output-string)))
    (let loop ((j 0)) (when (< j 10) (write (+ i j) p) (display "," p) (loop (+ j 1))))
    (get-output-string p)))
(show "10000 ports, total length"
      (let loop ((i 0) (n 0)) (if (= i 10000) n (loop (+ i 1) (+ n (string-length (build i)))))))
(collect-garbage)
(show "a last one" (build 7))

;; Reading chars one by one and counting lines.
(define text "line one\nline two\nline three\n")
(show "line count"
      (let ((p (open-input-string text)))
        (let loop ((n 0))
          (let ((c (read-char p)))
            (cond ((eof-object? c) n)
                  ((eqv? c #\newline) (loop (+ n 1)))
                  (else (loop n)))))))
