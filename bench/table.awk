# table.awk: what the table scripts share (POSIX awk), given to awk before
# each of them (awk -f bench/table.awk -f bench/<x>-table.awk LOG).

# The value of key=value field `name` of the current line ("" if none).
function field(name,    i) {
    for (i = 1; i <= NF; i++)
        if (index($i, name "=") == 1)
            return substr($i, length(name) + 2)
    return ""
}

# The median of a space-separated list of numbers: the middle one as it
# was written, or the mean of the middle two; "" for an empty list.
function median(list,    n, v, i, j, t) {
    n = split(list, v, " ")
    if (n == 0)
        return ""
    for (i = 2; i <= n; i++) {            # insertion sort: a handful of rounds
        t = v[i]
        for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--)
            v[j + 1] = v[j]
        v[j + 1] = t
    }
    if (n % 2)
        return v[(n + 1) / 2]
    return (v[n / 2] + v[n / 2 + 1]) / 2
}
