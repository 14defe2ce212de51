/* control.c: the control primitives: procedure?, values,
 * call-with-values, error, collect-garbage, exit, apply (whose spreading
 * of arguments is the VM's own: vm.c). */
#include <stdio.h>
#include <stdlib.h>

#include "vm.h"

/* ---- Control primitives ---------------------------------------------------------------- */

static sc_val p_procedure_p(int argc, sc_val *argv)
{
    (void)argc;
    return sc_bool(sc_is_procedure(argv[0]));
}

static sc_val p_values(int argc, sc_val *argv)
{
    if (argc == 1)
        return argv[0];
    sc_val v = sc_alloc_slots(SC_VALUES, (size_t)argc);
    for (int i = 0; i < argc; i++)
        SC_SET(v, (size_t)i + 1, argv[i]);
    return v;
}

static sc_val p_call_with_values(int argc, sc_val *argv)
{
    (void)argc;
    sc_val consumer = argv[1];
    sc_val v = sc_apply(argv[0], 0, NULL);
    if (!sc_is(v, SC_VALUES))
        return sc_apply(consumer, 1, &v);
    size_t n = sc_len(v);
    sc_val args[64];
    if (n > 64)
        sc_error(SC_DEFAULT, "call-with-values: more than 64 values");
    for (size_t i = 0; i < n; i++)
        args[i] = SC_SLOT(v, i + 1);
    return sc_apply(consumer, (int)n, args);
}

static sc_val p_error(int argc, sc_val *argv)
{
    /* (error message irritant ...): the message displayed, the irritants
     * written after it, as Guile prints them. */
    char buf[480];
    size_t k = 0;
    if (sc_is(argv[0], SC_STRING)) {
        char *s = sc_string_to_utf8(argv[0], NULL);
        k = (size_t)snprintf(buf, sizeof buf, "%s", s);
        free(s);
    } else {
        k = (size_t)snprintf(buf, sizeof buf, "%s",
                             sc_is(argv[0], SC_SYMBOL) ? sc_symbol_name(argv[0]) : "error");
    }
    if (k >= sizeof buf)
        k = sizeof buf - 1;
    sc_val irritants = SC_NIL;
    for (int i = argc - 1; i >= 1; i--)
        irritants = sc_cons(argv[i], irritants);
    sc_error(irritants == SC_NIL ? SC_DEFAULT : irritants, "%s", buf);
}

static sc_val p_collect_garbage(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    sc_vm_clear_stale();
    tc_collect();
    return SC_UNSPEC;
}

static sc_val p_exit(int argc, sc_val *argv)
{
    sc_ports_flush_all();
    int code = 0;
    if (argc >= 1)
        code = sc_is_fixnum(argv[0]) ? (int)sc_fixnum_value(argv[0]) : argv[0] == SC_FALSE;
    exit(code);
}

static sc_val p_void(int argc, sc_val *argv)
{
    (void)argc, (void)argv;
    return SC_UNSPEC;
}

void sc_init_control(void)
{
    sc_vm_init();
    sc_defprim("procedure?", p_procedure_p, 1, 1);
    sc_defprim("values", p_values, 0, -1);
    sc_defprim("call-with-values", p_call_with_values, 2, 2);
    sc_defprim("error", p_error, 1, -1);
    sc_defprim("collect-garbage", p_collect_garbage, 0, 0);
    sc_defprim("exit", p_exit, 0, 1);
    sc_defprim("%unspecified", p_void, 0, -1);
    /* apply: the VM spreads its arguments itself (a tail call stays one). */
    sc_defprim("apply", p_void, 1, -1);
    sc_val p = SC_SLOT(sc_intern("apply"), SC_SYM_VALUE);
    ((sc_prim_c *)sc_obj(SC_SLOT(p, SC_PRIM_C)))->special = SC_PRIM_APPLY;
}
