/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A small builder for ACPI Machine Language (AML) byte code and for the other little-endian byte
 * layouts of ACPI tables. Arch-neutral: it knows the encodings of ACPI 6.x chapters 6.4 (resource
 * descriptors) and 20 (AML grammar), nothing about any machine.
 *
 * Errors are sticky: the first failure (out of memory, a bad name, a descriptor outside a resource
 * template, ...) is recorded in the buffer, every later call does nothing and returns it, and
 * aml_finish() reports it. So a caller may emit a whole table and check once at the end; each call
 * also returns the error (or 0) for callers that want to stop early.
 *
 * Objects that carry a PkgLength (Scope, Device, Method, If, Else, Package, Buffer) are opened with
 * aml_*_begin() and closed with aml_end(); the length is encoded when the object is closed, in as
 * few bytes (1 to 4) as it needs, so objects nest to any depth up to AML_NEST_MAX and any size up
 * to the 2^28-byte limit of a PkgLength.
 *
 * Operators that take operands (LEqual, Store, Notify, Return) are emitted in AML's prefix order:
 * the call writes the opcode and the caller then emits the operands, e.g.
 *         aml_if_begin(a);
 *                 aml_lequal(a); aml_arg(a, 0); aml_integer(a, 5);
 *                 aml_notify(a); aml_name_string(a, "\\_SB.PWRB"); aml_integer(a, 0x80);
 *         aml_end(a);
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_NEST_MAX 32
#define AML_PKG_LENGTH_MAX ((1U << 28) - 1)

typedef enum AmlScopeKind {
        AML_SCOPE_PLAIN,             /* PkgLength only */
        AML_SCOPE_BUFFER,            /* PkgLength, then BufferSize, both known at aml_end() */
        AML_SCOPE_RESOURCE_TEMPLATE, /* a Buffer that aml_end() closes with an End Tag */
} AmlScopeKind;

typedef struct AmlScope {
        size_t start; /* where the PkgLength goes: just after the opcode */
        AmlScopeKind kind;
} AmlScope;

typedef struct AmlBuf {
        uint8_t *data;
        size_t len;
        size_t allocated;
        size_t limit; /* 0: none; else growing past this many bytes fails as if out of memory */
        int error;    /* first error, negative errno; 0 while all is well */
        AmlScope open[AML_NEST_MAX];
        size_t depth;
} AmlBuf;

/* Frees the bytes; the AmlBuf may be reused from {} afterwards. For _cleanup_(aml_buf_done). */
void aml_buf_done(AmlBuf *a);
/* 0 if everything emitted so far succeeded and every begun object was ended, else the error
 * (-EINVAL for an object left open). */
int aml_finish(AmlBuf *a);

/* Raw little-endian bytes: for table headers and fixed fields, not checked against the grammar. */
int aml_append(AmlBuf *a, const void *p, size_t n);
int aml_append_u8(AmlBuf *a, uint8_t v);
int aml_append_u16(AmlBuf *a, uint16_t v);
int aml_append_u32(AmlBuf *a, uint32_t v);
int aml_append_u64(AmlBuf *a, uint64_t v);

/* Encodes a PkgLength for a package whose contents (after the PkgLength) are body_len bytes long.
 * Returns the number of bytes written to out (1 to 4), or -E2BIG. */
int aml_encode_pkg_length(size_t body_len, uint8_t out[static 4]);

/* Data objects. */
/* ASL-style path: optional "\" or "^"s, then NameSegs of 1 to 4 characters separated by '.';
 * short segments are padded with '_' ("_SB" is "_SB_"). Characters: A-Z, _ and (not first) 0-9.
 * "\" alone is the root. -EINVAL for anything else. */
int aml_name_string(AmlBuf *a, const char *path);
/* Zero, One, or the shortest of Byte/Word/DWord/QWord. */
int aml_integer(AmlBuf *a, uint64_t v);
/* ASCII 0x01-0x7f only. */
int aml_string(AmlBuf *a, const char *s);
/* A 7-character EISA/PNP ID ("PNP0C0C") as its compressed 32-bit integer. */
int aml_eisaid(AmlBuf *a, const char *id);
int aml_eisaid_value(const char *id, uint32_t *ret);
int aml_arg(AmlBuf *a, unsigned n);   /* Arg0..Arg6 */
int aml_local(AmlBuf *a, unsigned n); /* Local0..Local7 */

/* Name(path, object): the caller emits the object after aml_name(). */
int aml_name(AmlBuf *a, const char *path);
int aml_name_integer(AmlBuf *a, const char *path, uint64_t v);
int aml_name_str(AmlBuf *a, const char *path, const char *s);
int aml_name_eisaid(AmlBuf *a, const char *path, const char *id);

/* Objects with a PkgLength, each closed by aml_end(). */
int aml_scope_begin(AmlBuf *a, const char *path);
int aml_device_begin(AmlBuf *a, const char *path);
int aml_method_begin(AmlBuf *a, const char *path, unsigned n_args, bool serialized);
int aml_if_begin(AmlBuf *a);   /* the predicate follows, then the body */
int aml_else_begin(AmlBuf *a); /* directly after an If's aml_end() */
int aml_package_begin(AmlBuf *a, unsigned n_elements); /* 0..255 elements */
int aml_buffer_begin(AmlBuf *a);                       /* raw bytes follow */
int aml_resource_template_begin(AmlBuf *a);            /* resource descriptors follow */
int aml_end(AmlBuf *a);

/* OperationRegion(path, space, offset, len). */
#define AML_REGION_SYSTEM_MEMORY 0x00
#define AML_REGION_SYSTEM_IO 0x01
int aml_operation_region(AmlBuf *a, const char *path, uint8_t space, uint64_t offset, uint64_t len);
/* Field(region, flags) { name, bits, ... }: aml_field_unit() for each unit (a NameSeg of 1-4 characters),
 * then aml_end(). */
#define AML_FIELD_ACCESS_DWORD 0x03
#define AML_FIELD_NO_LOCK 0x00
#define AML_FIELD_WRITE_AS_ZEROS 0x40
int aml_field_begin(AmlBuf *a, const char *region, uint8_t flags);
int aml_field_unit(AmlBuf *a, const char *name, unsigned bits);

/* Operators: the opcode only; the operands follow (see the top of this file). */
int aml_and(AmlBuf *a);         /* And(Operand, Operand, Target) */
int aml_null_target(AmlBuf *a); /* a Target that stores nowhere */
int aml_lequal(AmlBuf *a); /* LEqual(Operand, Operand) */
int aml_store(AmlBuf *a);  /* Store(TermArg, SuperName) */
int aml_notify(AmlBuf *a); /* Notify(NotifyObject, NotifyValue) */
int aml_return(AmlBuf *a); /* Return(ArgObject) */

/* Resource descriptors (ACPI 6.x section 6.4), only inside aml_resource_template_begin()/aml_end():
 * -EINVAL elsewhere. */
/* I/O Port Descriptor with 16-bit decode. */
int aml_io(AmlBuf *a, uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
/* IRQ Descriptor without the information byte (edge, active-high, exclusive): one ISA IRQ 0-15. */
int aml_irq_noflags(AmlBuf *a, unsigned irq);

/* Extended Interrupt Descriptor flags (its byte 3). */
#define AML_IRQ_CONSUMER (1U << 0)
#define AML_IRQ_EDGE (1U << 1)       /* else level */
#define AML_IRQ_ACTIVE_LOW (1U << 2) /* else active-high */
#define AML_IRQ_SHARED (1U << 3)
#define AML_IRQ_WAKE (1U << 4)
int aml_extended_interrupt(AmlBuf *a, uint8_t flags, uint32_t gsi);

/* Memory32Fixed. */
int aml_memory32_fixed(AmlBuf *a, bool read_write, uint32_t base, uint32_t length);

/* Address Space Descriptors (Word/DWord/QWord): the same fields, different widths. */
#define AML_RESOURCE_MEMORY 0
#define AML_RESOURCE_IO 1
#define AML_RESOURCE_BUS_NUMBER 2
/* General flags. */
#define AML_ADDR_CONSUMER (1U << 0)   /* else produced (a bridge's window) and consumed */
#define AML_ADDR_SUB_DECODE (1U << 1) /* else positive decode */
#define AML_ADDR_MIN_FIXED (1U << 2)
#define AML_ADDR_MAX_FIXED (1U << 3)
/* Type-specific flags for AML_RESOURCE_MEMORY. */
#define AML_ADDR_MEM_READ_WRITE (1U << 0)
#define AML_ADDR_MEM_NON_CACHEABLE (0U << 1)
#define AML_ADDR_MEM_CACHEABLE (1U << 1)
#define AML_ADDR_MEM_WRITE_COMBINING (2U << 1)
#define AML_ADDR_MEM_PREFETCHABLE (3U << 1)
/* Type-specific flags for AML_RESOURCE_IO. */
#define AML_ADDR_IO_ENTIRE_RANGE (3U << 0)

typedef struct AmlAddressSpace {
        uint8_t type;         /* AML_RESOURCE_* */
        uint8_t flags;        /* AML_ADDR_* general flags */
        uint8_t type_flags;   /* AML_ADDR_MEM_* / AML_ADDR_IO_* */
        uint64_t granularity; /* _GRA */
        uint64_t min;         /* _MIN */
        uint64_t max;         /* _MAX */
        uint64_t translation; /* _TRA */
        uint64_t length;      /* _LEN */
} AmlAddressSpace;

/* -ERANGE if a field does not fit the descriptor's width. */
int aml_word_address_space(AmlBuf *a, const AmlAddressSpace *s);
int aml_dword_address_space(AmlBuf *a, const AmlAddressSpace *s);
int aml_qword_address_space(AmlBuf *a, const AmlAddressSpace *s);
