/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acpi/aml.h"

/* Opcodes and prefixes (ACPI 6.x section 20.3). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_METHOD_OP 0x14
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX 0x5b
#define AML_EXT_DEVICE_OP 0x82
#define AML_EXT_OP_REGION_OP 0x80
#define AML_EXT_FIELD_OP 0x81
#define AML_ROOT_CHAR '\\'
#define AML_PARENT_PREFIX_CHAR '^'
#define AML_LOCAL0_OP 0x60
#define AML_ARG0_OP 0x68
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7b
#define AML_NOTIFY_OP 0x86
#define AML_LEQUAL_OP 0x93
#define AML_IF_OP 0xa0
#define AML_ELSE_OP 0xa1
#define AML_RETURN_OP 0xa4

/* Resource descriptor tags (ACPI 6.x section 6.4). Small items: type << 3 | length. Large items:
 * 0x80 | type, then a 16-bit length of what follows. */
#define AML_RES_IRQ_NOFLAGS 0x22 /* type 0x04, 2 bytes */
#define AML_RES_IO 0x47          /* type 0x08, 7 bytes */
#define AML_RES_END_TAG 0x79     /* type 0x0f, 1 byte */
#define AML_RES_MEMORY32_FIXED 0x86
#define AML_RES_DWORD_ADDRESS 0x87
#define AML_RES_WORD_ADDRESS 0x88
#define AML_RES_EXTENDED_IRQ 0x89
#define AML_RES_QWORD_ADDRESS 0x8a

static int aml_fail(AmlBuf *a, int error) {
        if (a->error == 0)
                a->error = error;
        return a->error;
}

/* Makes room for n more bytes. */
static int aml_reserve(AmlBuf *a, size_t n) {
        size_t need, alloc;
        uint8_t *p;

        if (a->error < 0)
                return a->error;
        if (n > SIZE_MAX - a->len)
                return aml_fail(a, -ENOMEM);
        need = a->len + n;
        if (a->limit > 0 && need > a->limit)
                return aml_fail(a, -ENOMEM);
        if (need <= a->allocated)
                return 0;

        alloc = a->allocated > 0 ? a->allocated : 256;
        while (alloc < need)
                alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
        if (a->limit > 0 && alloc > a->limit)
                alloc = a->limit;
        p = realloc(a->data, alloc);
        if (!p)
                return aml_fail(a, -ENOMEM);
        a->data = p;
        a->allocated = alloc;
        return 0;
}

void aml_buf_done(AmlBuf *a) {
        free(a->data);
        *a = (AmlBuf) {};
}

int aml_finish(AmlBuf *a) {
        if (a->error < 0)
                return a->error;
        if (a->depth > 0)
                return aml_fail(a, -EINVAL);
        return 0;
}

int aml_append(AmlBuf *a, const void *p, size_t n) {
        int r;

        r = aml_reserve(a, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(a->data + a->len, p, n);
        a->len += n;
        return 0;
}

int aml_append_u8(AmlBuf *a, uint8_t v) {
        return aml_append(a, &v, 1);
}

int aml_append_u16(AmlBuf *a, uint16_t v) {
        uint8_t b[2] = { v, v >> 8 };
        return aml_append(a, b, sizeof b);
}

int aml_append_u32(AmlBuf *a, uint32_t v) {
        uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };
        return aml_append(a, b, sizeof b);
}

int aml_append_u64(AmlBuf *a, uint64_t v) {
        int r;

        r = aml_append_u32(a, (uint32_t) v);
        if (r < 0)
                return r;
        return aml_append_u32(a, (uint32_t) (v >> 32));
}

int aml_encode_pkg_length(size_t body_len, uint8_t out[static 4]) {
        size_t total;
        int n;

        /* The length counts its own bytes. One byte holds up to 63 in bits 0-5; with 1 to 3 more
         * bytes, bits 6-7 of the lead byte say how many follow, its bits 0-3 hold the low nibble and
         * each following byte the next 8 bits (bits 4-5 of the lead byte stay zero). */
        if (body_len > AML_PKG_LENGTH_MAX)
                return -E2BIG;
        if (body_len + 1 <= 0x3f) {
                out[0] = (uint8_t) (body_len + 1);
                return 1;
        }
        for (n = 2; n <= 4; n++) {
                total = body_len + n;
                if (total < (1U << (4 + 8 * (n - 1))))
                        break;
        }
        if (n > 4)
                return -E2BIG;
        out[0] = (uint8_t) (((n - 1) << 6) | (total & 0x0f));
        for (int i = 1; i < n; i++)
                out[i] = (uint8_t) (total >> (4 + 8 * (i - 1)));
        return n;
}

/* Validates and encodes one NameSeg of 1-4 characters from s[0..n), padding with '_'. */
static int name_seg(const char *s, size_t n, uint8_t out[static 4]) {
        if (n < 1 || n > 4)
                return -EINVAL;
        for (size_t i = 0; i < 4; i++) {
                char c = i < n ? s[i] : '_';
                bool lead = (c >= 'A' && c <= 'Z') || c == '_';
                if (!lead && (i == 0 || c < '0' || c > '9'))
                        return -EINVAL;
                out[i] = (uint8_t) c;
        }
        return 0;
}

int aml_name_string(AmlBuf *a, const char *path) {
        uint8_t prefix[256], segs[255][4];
        size_t n_prefix = 0, n_segs = 0;
        const char *p = path;
        int r;

        if (a->error < 0)
                return a->error;
        if (!path)
                return aml_fail(a, -EINVAL);

        if (*p == AML_ROOT_CHAR)
                prefix[n_prefix++] = *p++;
        else
                while (*p == AML_PARENT_PREFIX_CHAR) {
                        if (n_prefix >= sizeof prefix)
                                return aml_fail(a, -EINVAL);
                        prefix[n_prefix++] = *p++;
                }

        while (*p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t) (dot - p) : strlen(p);

                if (n_segs >= sizeof segs / sizeof segs[0])
                        return aml_fail(a, -EINVAL);
                if (name_seg(p, n, segs[n_segs]) < 0)
                        return aml_fail(a, -EINVAL);
                n_segs++;
                p += n;
                if (*p == '.') {
                        p++;
                        if (!*p) /* a trailing dot */
                                return aml_fail(a, -EINVAL);
                }
        }
        /* A bare "^" has no meaning; a bare "\" is the root, and "" is nothing at all. */
        if (n_segs == 0 && !(n_prefix == 1 && prefix[0] == AML_ROOT_CHAR))
                return aml_fail(a, -EINVAL);

        r = aml_append(a, prefix, n_prefix);
        if (r < 0)
                return r;
        switch (n_segs) {
        case 0:
                return aml_append_u8(a, 0x00); /* NullName */
        case 1:
                break;
        case 2:
                r = aml_append_u8(a, AML_DUAL_NAME_PREFIX);
                break;
        default:
                r = aml_append_u8(a, AML_MULTI_NAME_PREFIX);
                if (r >= 0)
                        r = aml_append_u8(a, (uint8_t) n_segs);
                break;
        }
        if (r < 0)
                return r;
        return aml_append(a, segs, 4 * n_segs);
}

/* An Integer in its shortest encoding: Zero, One, or a Byte/Word/DWord/QWord prefix and the value. */
static size_t encode_integer(uint64_t v, uint8_t out[static 9]) {
        size_t n;

        if (v <= 1) {
                out[0] = v == 0 ? AML_ZERO_OP : AML_ONE_OP;
                return 1;
        }
        if (v <= UINT8_MAX) {
                out[0] = AML_BYTE_PREFIX;
                n = 1;
        } else if (v <= UINT16_MAX) {
                out[0] = AML_WORD_PREFIX;
                n = 2;
        } else if (v <= UINT32_MAX) {
                out[0] = AML_DWORD_PREFIX;
                n = 4;
        } else {
                out[0] = AML_QWORD_PREFIX;
                n = 8;
        }
        for (size_t i = 0; i < n; i++)
                out[1 + i] = (uint8_t) (v >> (8 * i));
        return 1 + n;
}

int aml_integer(AmlBuf *a, uint64_t v) {
        uint8_t b[9];

        return aml_append(a, b, encode_integer(v, b));
}

int aml_string(AmlBuf *a, const char *s) {
        int r;

        if (a->error < 0)
                return a->error;
        if (!s)
                return aml_fail(a, -EINVAL);
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c > 0x7f)
                        return aml_fail(a, -EINVAL);
        r = aml_append_u8(a, AML_STRING_PREFIX);
        if (r < 0)
                return r;
        return aml_append(a, s, strlen(s) + 1);
}

int aml_eisaid_value(const char *id, uint32_t *ret) {
        uint32_t v = 0;

        /* Three letters of 5 bits each (A = 1), then four hex digits: 31 bits, big-endian, which
         * AML then stores as a little-endian DWord. */
        if (!id || strlen(id) != 7)
                return -EINVAL;
        for (size_t i = 0; i < 3; i++) {
                if (id[i] < 'A' || id[i] > 'Z')
                        return -EINVAL;
                v = (v << 5) | (uint32_t) (id[i] - 'A' + 1);
        }
        for (size_t i = 3; i < 7; i++) {
                uint32_t d;
                if (id[i] >= '0' && id[i] <= '9')
                        d = (uint32_t) (id[i] - '0');
                else if (id[i] >= 'A' && id[i] <= 'F')
                        d = (uint32_t) (id[i] - 'A' + 10);
                else
                        return -EINVAL;
                v = (v << 4) | d;
        }
        *ret = ((v >> 24) & 0xff) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | ((v & 0xff) << 24);
        return 0;
}

int aml_eisaid(AmlBuf *a, const char *id) {
        uint32_t v;

        if (a->error < 0)
                return a->error;
        if (aml_eisaid_value(id, &v) < 0)
                return aml_fail(a, -EINVAL);
        /* Always a DWord, as ASL's EISAID() compiles, even if a shorter integer would do. */
        if (aml_append_u8(a, AML_DWORD_PREFIX) < 0)
                return a->error;
        return aml_append_u32(a, v);
}

int aml_arg(AmlBuf *a, unsigned n) {
        if (n > 6)
                return aml_fail(a, -EINVAL);
        return aml_append_u8(a, (uint8_t) (AML_ARG0_OP + n));
}

int aml_local(AmlBuf *a, unsigned n) {
        if (n > 7)
                return aml_fail(a, -EINVAL);
        return aml_append_u8(a, (uint8_t) (AML_LOCAL0_OP + n));
}

int aml_name(AmlBuf *a, const char *path) {
        int r;

        r = aml_append_u8(a, AML_NAME_OP);
        if (r < 0)
                return r;
        return aml_name_string(a, path);
}

int aml_name_integer(AmlBuf *a, const char *path, uint64_t v) {
        int r;

        r = aml_name(a, path);
        if (r < 0)
                return r;
        return aml_integer(a, v);
}

int aml_name_str(AmlBuf *a, const char *path, const char *s) {
        int r;

        r = aml_name(a, path);
        if (r < 0)
                return r;
        return aml_string(a, s);
}

int aml_name_eisaid(AmlBuf *a, const char *path, const char *id) {
        int r;

        r = aml_name(a, path);
        if (r < 0)
                return r;
        return aml_eisaid(a, id);
}

/* Writes the opcode (one byte, or two with ext set), then marks where the PkgLength will go. */
static int aml_open(AmlBuf *a, bool ext, uint8_t op, AmlScopeKind kind) {
        int r;

        if (a->error < 0)
                return a->error;
        if (a->depth >= AML_NEST_MAX)
                return aml_fail(a, -E2BIG);
        if (ext) {
                r = aml_append_u8(a, AML_EXT_OP_PREFIX);
                if (r < 0)
                        return r;
        }
        r = aml_append_u8(a, op);
        if (r < 0)
                return r;
        a->open[a->depth++] = (AmlScope) { .start = a->len, .kind = kind };
        return 0;
}

int aml_scope_begin(AmlBuf *a, const char *path) {
        int r;

        r = aml_open(a, false, AML_SCOPE_OP, AML_SCOPE_PLAIN);
        if (r < 0)
                return r;
        return aml_name_string(a, path);
}

int aml_device_begin(AmlBuf *a, const char *path) {
        int r;

        r = aml_open(a, true, AML_EXT_DEVICE_OP, AML_SCOPE_PLAIN);
        if (r < 0)
                return r;
        return aml_name_string(a, path);
}

int aml_method_begin(AmlBuf *a, const char *path, unsigned n_args, bool serialized) {
        int r;

        if (n_args > 7)
                return aml_fail(a, -EINVAL);
        r = aml_open(a, false, AML_METHOD_OP, AML_SCOPE_PLAIN);
        if (r < 0)
                return r;
        r = aml_name_string(a, path);
        if (r < 0)
                return r;
        /* MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel (0). */
        return aml_append_u8(a, (uint8_t) (n_args | (serialized ? 1U << 3 : 0)));
}

int aml_if_begin(AmlBuf *a) {
        return aml_open(a, false, AML_IF_OP, AML_SCOPE_PLAIN);
}

int aml_else_begin(AmlBuf *a) {
        return aml_open(a, false, AML_ELSE_OP, AML_SCOPE_PLAIN);
}

int aml_package_begin(AmlBuf *a, unsigned n_elements) {
        int r;

        /* More than 255 would need VarPackage; nothing here wants that many. */
        if (n_elements > UINT8_MAX)
                return aml_fail(a, -EINVAL);
        r = aml_open(a, false, AML_PACKAGE_OP, AML_SCOPE_PLAIN);
        if (r < 0)
                return r;
        return aml_append_u8(a, (uint8_t) n_elements);
}

int aml_buffer_begin(AmlBuf *a) {
        return aml_open(a, false, AML_BUFFER_OP, AML_SCOPE_BUFFER);
}

int aml_resource_template_begin(AmlBuf *a) {
        return aml_open(a, false, AML_BUFFER_OP, AML_SCOPE_RESOURCE_TEMPLATE);
}

int aml_end(AmlBuf *a) {
        uint8_t prefix[4 + 9]; /* PkgLength, then for a buffer its size as an Integer */
        size_t n_prefix = 0, body_len;
        AmlScope s;
        int r;

        if (a->error < 0)
                return a->error;
        if (a->depth == 0)
                return aml_fail(a, -EINVAL);
        s = a->open[a->depth - 1];

        if (s.kind == AML_SCOPE_RESOURCE_TEMPLATE) {
                uint8_t sum = AML_RES_END_TAG;

                /* The End Tag's second byte makes all bytes of the template, itself included, sum to
                 * zero (a zero there would mean "no checksum"; a real one is as valid and cheap). */
                for (size_t i = s.start; i < a->len; i++)
                        sum += a->data[i];
                r = aml_append_u8(a, AML_RES_END_TAG);
                if (r < 0)
                        return r;
                r = aml_append_u8(a, (uint8_t) -sum);
                if (r < 0)
                        return r;
        }

        body_len = a->len - s.start;
        /* A Buffer's BufferSize is a TermArg, an Integer like any other, and comes after the
         * PkgLength: both are encoded now and go in front of the bytes they count. */
        if (s.kind != AML_SCOPE_PLAIN)
                n_prefix = encode_integer(body_len, prefix + 4);

        r = aml_encode_pkg_length(body_len + n_prefix, prefix);
        if (r < 0)
                return aml_fail(a, r);
        memmove(prefix + r, prefix + 4, n_prefix);
        n_prefix += (size_t) r;

        r = aml_reserve(a, n_prefix);
        if (r < 0)
                return r;
        memmove(a->data + s.start + n_prefix, a->data + s.start, body_len);
        memcpy(a->data + s.start, prefix, n_prefix);
        a->len += n_prefix;
        a->depth--;
        return 0;
}

int aml_operation_region(AmlBuf *a, const char *path, uint8_t space, uint64_t offset, uint64_t len) {
        int r;

        if (a->error < 0)
                return a->error;
        r = aml_append_u8(a, AML_EXT_OP_PREFIX);
        if (r < 0)
                return r;
        r = aml_append_u8(a, AML_EXT_OP_REGION_OP);
        if (r < 0)
                return r;
        r = aml_name_string(a, path);
        if (r < 0)
                return r;
        r = aml_append_u8(a, space);
        if (r < 0)
                return r;
        r = aml_integer(a, offset);
        if (r < 0)
                return r;
        return aml_integer(a, len);
}

int aml_field_begin(AmlBuf *a, const char *region, uint8_t flags) {
        int r;

        r = aml_open(a, true, AML_EXT_FIELD_OP, AML_SCOPE_PLAIN);
        if (r < 0)
                return r;
        r = aml_name_string(a, region);
        if (r < 0)
                return r;
        return aml_append_u8(a, flags);
}

int aml_field_unit(AmlBuf *a, const char *name, unsigned bits) {
        uint8_t seg[4], len[2];
        size_t n;
        int r;

        if (a->error < 0)
                return a->error;
        if (a->depth == 0 || bits == 0 || bits > 0xfff)
                return aml_fail(a, -EINVAL);
        /* A NamedField is a NameSeg, then its width in bits in PkgLength's encoding, which here counts
         * bits, not its own bytes: one byte up to 63, else a lead byte with the low nibble and one more. */
        r = name_seg(name, strlen(name), seg);
        if (r < 0)
                return aml_fail(a, r);
        if (bits <= 0x3f) {
                len[0] = (uint8_t) bits;
                n = 1;
        } else {
                len[0] = (uint8_t) (0x40 | (bits & 0x0f));
                len[1] = (uint8_t) (bits >> 4);
                n = 2;
        }
        r = aml_append(a, seg, sizeof seg);
        if (r < 0)
                return r;
        return aml_append(a, len, n);
}

int aml_and(AmlBuf *a) {
        return aml_append_u8(a, AML_AND_OP);
}

int aml_null_target(AmlBuf *a) {
        return aml_append_u8(a, AML_ZERO_OP);
}

int aml_lequal(AmlBuf *a) {
        return aml_append_u8(a, AML_LEQUAL_OP);
}

int aml_store(AmlBuf *a) {
        return aml_append_u8(a, AML_STORE_OP);
}

int aml_notify(AmlBuf *a) {
        return aml_append_u8(a, AML_NOTIFY_OP);
}

int aml_return(AmlBuf *a) {
        return aml_append_u8(a, AML_RETURN_OP);
}

static int in_resource_template(AmlBuf *a) {
        if (a->error < 0)
                return a->error;
        if (a->depth == 0 || a->open[a->depth - 1].kind != AML_SCOPE_RESOURCE_TEMPLATE)
                return aml_fail(a, -EINVAL);
        return 0;
}

int aml_io(AmlBuf *a, uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
        int r;

        r = in_resource_template(a);
        if (r < 0)
                return r;
        if (min > max)
                return aml_fail(a, -EINVAL);
        (void) aml_append_u8(a, AML_RES_IO);
        (void) aml_append_u8(a, 0x01); /* decodes 16 address bits */
        (void) aml_append_u16(a, min);
        (void) aml_append_u16(a, max);
        (void) aml_append_u8(a, alignment);
        return aml_append_u8(a, length);
}

int aml_irq_noflags(AmlBuf *a, unsigned irq) {
        int r;

        r = in_resource_template(a);
        if (r < 0)
                return r;
        if (irq > 15)
                return aml_fail(a, -EINVAL);
        (void) aml_append_u8(a, AML_RES_IRQ_NOFLAGS);
        return aml_append_u16(a, (uint16_t) (1U << irq));
}

int aml_extended_interrupt(AmlBuf *a, uint8_t flags, uint32_t gsi) {
        int r;

        r = in_resource_template(a);
        if (r < 0)
                return r;
        if (flags & ~0x1fU)
                return aml_fail(a, -EINVAL);
        (void) aml_append_u8(a, AML_RES_EXTENDED_IRQ);
        (void) aml_append_u16(a, 2 + 4); /* flags, table length, one interrupt number */
        (void) aml_append_u8(a, flags);
        (void) aml_append_u8(a, 1);
        return aml_append_u32(a, gsi);
}

int aml_memory32_fixed(AmlBuf *a, bool read_write, uint32_t base, uint32_t length) {
        int r;

        r = in_resource_template(a);
        if (r < 0)
                return r;
        if (length > 0 && base + (uint64_t) length - 1 > UINT32_MAX)
                return aml_fail(a, -ERANGE);
        (void) aml_append_u8(a, AML_RES_MEMORY32_FIXED);
        (void) aml_append_u16(a, 9);
        (void) aml_append_u8(a, read_write ? 1 : 0);
        (void) aml_append_u32(a, base);
        return aml_append_u32(a, length);
}

/* The three address space descriptors differ only in their tag and the width of their five numbers. */
static int address_space(AmlBuf *a, const AmlAddressSpace *s, uint8_t tag, unsigned width) {
        const uint64_t fields[] = { s->granularity, s->min, s->max, s->translation, s->length };
        uint64_t max_value = width == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
        int r;

        r = in_resource_template(a);
        if (r < 0)
                return r;
        if (s->type > AML_RESOURCE_BUS_NUMBER || (s->flags & ~0x0fU))
                return aml_fail(a, -EINVAL);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                if (fields[i] > max_value)
                        return aml_fail(a, -ERANGE);

        (void) aml_append_u8(a, tag);
        (void) aml_append_u16(a, (uint16_t) (3 + 5 * width)); /* no ResourceSource */
        (void) aml_append_u8(a, s->type);
        (void) aml_append_u8(a, s->flags);
        (void) aml_append_u8(a, s->type_flags);
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                switch (width) {
                case 2:
                        (void) aml_append_u16(a, (uint16_t) fields[i]);
                        break;
                case 4:
                        (void) aml_append_u32(a, (uint32_t) fields[i]);
                        break;
                default:
                        (void) aml_append_u64(a, fields[i]);
                        break;
                }
        return a->error;
}

int aml_word_address_space(AmlBuf *a, const AmlAddressSpace *s) {
        return address_space(a, s, AML_RES_WORD_ADDRESS, 2);
}

int aml_dword_address_space(AmlBuf *a, const AmlAddressSpace *s) {
        return address_space(a, s, AML_RES_DWORD_ADDRESS, 4);
}

int aml_qword_address_space(AmlBuf *a, const AmlAddressSpace *s) {
        return address_space(a, s, AML_RES_QWORD_ADDRESS, 8);
}
