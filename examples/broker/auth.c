/* SPDX-License-Identifier: MIT */
/*
 * auth.c - who may connect and what they may do: the mosquitto-format
 * password file, anonymous access, bans and the per-user ACL.
 *
 * The password file is read at start-up and again whenever its modification
 * time changes (checked at each CONNECT that needs it), so editing it with
 * mosquitto_passwd takes effect without a restart. A configured file that
 * cannot be read refuses every CONNECT with server_unavailable until it can.
 * Hashes are checked with the library's mqr_passwd_verify ($6$ and $7$).
 *
 * The ACL is a list of (user or everyone, access, topic filter) entries. With
 * no entries everything is allowed; with entries, an access is allowed when
 * an entry of the user or of everyone grants it and no such entry denies it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"

static void pw_clear(brk_pwfile_t *pf)
{
    for (size_t i = 0; i < pf->n; i++) {
        free(pf->users[i]);
        free(pf->hashes[i]);
    }
    free(pf->users);
    free(pf->hashes);
    pf->users = pf->hashes = NULL;
    pf->n = 0;
}

/* Read the password file into `pf`. 0, or -1 (logged) when it cannot be
 * read; the old contents are dropped either way. */
static int pw_load(broker_t *b, brk_pwfile_t *pf, const char *path)
{
    pw_clear(pf);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        brk_log(b, 0, "password file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    unsigned lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            brk_log(b, 0, "%s:%u: no ':' between user name and hash; line ignored", path,
                    lineno);
            continue;
        }
        *colon = 0;
        char **nu = realloc(pf->users, (pf->n + 1) * sizeof *nu);
        if (nu != NULL)
            pf->users = nu;
        char **nh = realloc(pf->hashes, (pf->n + 1) * sizeof *nh);
        if (nh != NULL)
            pf->hashes = nh;
        if (nu == NULL || nh == NULL)
            break;
        pf->users[pf->n] = brk_strdup(line);
        pf->hashes[pf->n] = brk_strdup(colon + 1);
        pf->n++;
    }
    fclose(f);
    return 0;
}

/* Make sure the loaded password file is current. 0 or -1 (unreadable). */
static int pw_refresh(broker_t *b, brk_pwfile_t *pf, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (pf->ok)
            brk_log(b, 0, "password file %s: %s", path, strerror(errno));
        pf->ok = 0;
        return -1;
    }
    int64_t mt = (int64_t)st.st_mtime * 1000000000 + st.st_mtim.tv_nsec;
    if (!pf->ok || mt != pf->mtime) {
        pf->ok = pw_load(b, pf, path) == 0;
        pf->mtime = mt;
        if (pf->ok)
            brk_log(b, 1, "password file %s: %zu user(s)", path, pf->n);
    }
    return pf->ok ? 0 : -1;
}

/* The MQTT password file and the admin listener's both go through here. */
int brk_pwfile_check(broker_t *b, brk_pwfile_t *pf, const char *path, const char *user,
                     size_t user_len, const void *pass, size_t pass_len, const char **why)
{
    if (pw_refresh(b, pf, path) != 0) {
        *why = "the password file cannot be read";
        return MQR_RC_SERVER_UNAVAILABLE;
    }
    for (size_t i = 0; i < pf->n; i++) {
        if (strlen(pf->users[i]) != user_len || memcmp(pf->users[i], user, user_len) != 0)
            continue;
        if (pass == NULL) {
            *why = "no password given";
            return MQR_RC_BAD_USERNAME_OR_PASSWORD;
        }
        int rc = mqr_passwd_verify(pf->hashes[i], strlen(pf->hashes[i]), (const char *)pass,
                                    pass_len);
        if (rc == MQR_OK)
            return 0;
        *why = rc == MQR_NO_MATCH ? "wrong password"
                                  : "the user's password-file entry is not usable";
        return MQR_RC_BAD_USERNAME_OR_PASSWORD;
    }
    *why = "unknown user name";
    return MQR_RC_BAD_USERNAME_OR_PASSWORD;
}

void brk_pwfile_free(brk_pwfile_t *pf)
{
    pw_clear(pf);
}

/* Authenticate a CONNECT. Returns 0 (accepted) or the reason code, with
 * *why saying what went wrong. */
int brk_auth_check(broker_t *b, const mqr_pkt_connect_t *c, const char **why)
{
    const brk_config_t *cfg = &b->cfg;
    int anonymous = cfg->allow_anonymous < 0 ? cfg->password_file == NULL
                                             : cfg->allow_anonymous;
    if (cfg->password_file != NULL && pw_refresh(b, &b->pw, cfg->password_file) != 0) {
        *why = "the password file cannot be read";
        return MQR_RC_SERVER_UNAVAILABLE;
    }
    if (c->username.ptr == NULL) {
        if (anonymous)
            return 0;
        *why = "anonymous access is off";
        return MQR_RC_NOT_AUTHORIZED;
    }
    if (cfg->password_file == NULL) {
        if (anonymous)
            return 0;
        *why = "anonymous access is off and no password file is configured";
        return MQR_RC_NOT_AUTHORIZED;
    }
    return brk_pwfile_check(b, &b->pw, cfg->password_file, c->username.ptr, c->username.len,
                            c->password.ptr, c->password.len, why);
}

static int in_list(const brk_str_list_t *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->count; i++)
        if (strlen(l->items[i]) == len && memcmp(l->items[i], s, len) == 0)
            return 1;
    return 0;
}

/* 1 if `host` (text) is inside `spec`: an address, or IPv4 "a.b.c.d/n". */
static int addr_matches(const char *spec, const char *host)
{
    const char *slash = strchr(spec, '/');
    if (slash == NULL)
        return strcmp(spec, host) == 0;
    char net[64];
    size_t nl = (size_t)(slash - spec);
    if (nl >= sizeof net)
        return 0;
    memcpy(net, spec, nl);
    net[nl] = 0;
    int bits = atoi(slash + 1);
    struct in_addr a, h;
    if (bits < 0 || bits > 32 || inet_pton(AF_INET, net, &a) != 1 ||
        inet_pton(AF_INET, host, &h) != 1)
        return 0;
    uint32_t mask = bits == 0 ? 0 : 0xFFFFFFFFu << (32 - bits);
    return (ntohl(a.s_addr) & mask) == (ntohl(h.s_addr) & mask);
}

/* 1 (with *why) if the client id, user name or address is banned. */
int brk_banned(broker_t *b, const mqr_pkt_connect_t *c, const char *peerhost, const char **why)
{
    if (in_list(&b->cfg.ban_clientids, c->clientid.ptr ? c->clientid.ptr : "", c->clientid.len)) {
        *why = "client id banned";
        return 1;
    }
    if (c->username.ptr != NULL &&
        in_list(&b->cfg.ban_usernames, c->username.ptr, c->username.len)) {
        *why = "user name banned";
        return 1;
    }
    for (size_t i = 0; i < b->cfg.ban_addresses.count; i++) {
        if (addr_matches(b->cfg.ban_addresses.items[i], peerhost)) {
            *why = "address banned";
            return 1;
        }
    }
    return 0;
}

/* 1 if `username` (NULL: anonymous) may use `topic` (a name, or a filter for
 * subscriptions) with `access` (BRK_ACC_READ or BRK_ACC_WRITE). */
int brk_acl_allows(broker_t *b, const char *username, const char *topic, size_t len,
                   uint32_t access)
{
    if (b->cfg.nacls == 0)
        return 1;
    int allowed = 0;
    for (size_t i = 0; i < b->cfg.nacls; i++) {
        const brk_acl_t *a = &b->cfg.acls[i];
        if (a->user != NULL && (username == NULL || strcmp(a->user, username) != 0))
            continue;
        if (!mqr_topic_match(a->filter, strlen(a->filter), topic, len))
            continue;
        if (a->access & BRK_ACC_DENY)
            return 0;
        if (a->access & access)
            allowed = 1;
    }
    return allowed;
}

/* Free the loaded password file. */
void brk_auth_free(broker_t *b)
{
    pw_clear(&b->pw);
}
