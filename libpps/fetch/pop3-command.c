/*
 * pop3-command.c - the POP3 commands as a table (RFC 1939, 2449, 2595, 5034).
 *
 * What differs between commands is data, not code: whether the reply is
 * multi-line, how much of the line the transcript may show, and whether a
 * plain -ERR means "bad credentials".  LIST and UIDL are multi-line only
 * without an argument; the engine only sends them without one.
 */
#include "pop3.h"

static const pps__pop3_command_info commands[PPS__CMD_COUNT] = {
    [PPS__CMD_CAPA] = {"CAPA", "reply to CAPA", 1, 0, 0},
    [PPS__CMD_STLS] = {"STLS", "reply to STLS", 0, 0, 0},
    [PPS__CMD_USER] = {"USER", "reply to USER", 0, 0, 1},
    /* "PASS <hidden>" */
    [PPS__CMD_PASS] = {"PASS", "reply to PASS", 0, 1, 1},
    /* "APOP user <hidden>": the digest is as good as a password offline */
    [PPS__CMD_APOP] = {"APOP", "reply to APOP", 0, 2, 1},
    /* "AUTH PLAIN <hidden>" when an initial response follows */
    [PPS__CMD_AUTH] = {"AUTH", "reply to AUTH", 0, 2, 1},
    /* a client response: hidden entirely (visible_words 0 is "all", so
     * the transcript function treats this command specially) */
    [PPS__CMD_AUTH_DATA] = {"", "reply to the AUTH response", 0, 0, 1},
    [PPS__CMD_STAT] = {"STAT", "reply to STAT", 0, 0, 0},
    [PPS__CMD_LIST] = {"LIST", "reply to LIST", 1, 0, 0},
    [PPS__CMD_UIDL] = {"UIDL", "reply to UIDL", 1, 0, 0},
    [PPS__CMD_RETR] = {"RETR", "reply to RETR", 1, 0, 0},
    [PPS__CMD_TOP] = {"TOP", "reply to TOP", 1, 0, 0},
    [PPS__CMD_DELE] = {"DELE", "reply to DELE", 0, 0, 0},
    [PPS__CMD_RSET] = {"RSET", "reply to RSET", 0, 0, 0},
    [PPS__CMD_NOOP] = {"NOOP", "reply to NOOP", 0, 0, 0},
    [PPS__CMD_QUIT] = {"QUIT", "reply to QUIT", 0, 0, 0},
    [PPS__CMD_GREETING] = {"", "greeting", 0, 0, 0},
};

const pps__pop3_command_info *pps__pop3_command(pps__pop3_cmd cmd)
{
    return &commands[cmd < PPS__CMD_COUNT ? cmd : PPS__CMD_GREETING];
}
