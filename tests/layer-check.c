/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Linked with one layer of vmm whole (src/vmm/meson.build): it builds only if that layer calls nothing
 * above itself. */
int main(void) {
        return 0;
}
