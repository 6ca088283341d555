# Every warning flag in one place (curl's PickyWarnings idea).
set(LOCKSTEP_PICKY_FLAGS
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion
  -Wmissing-prototypes -Wstrict-prototypes -Wold-style-definition
  -Wpointer-arith -Wcast-qual -Wwrite-strings -Wundef
  -Wformat=2 -Wformat-security -Wnull-dereference -Wdouble-promotion
  -Wvla -Wimplicit-fallthrough -Wmissing-declarations -Wredundant-decls
  -fno-common)

if(LOCKSTEP_WERROR)
  list(APPEND LOCKSTEP_PICKY_FLAGS -Werror)
endif()

if(LOCKSTEP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # Memory kept until exit is freed before it where LeakSanitizer looks (engine/arena.h).
  add_compile_definitions(LOCKSTEP_SANITIZE=1)
endif()

# Unsafe calls are banned outright (curl's checksrc): a use is a compile error.
set(LOCKSTEP_BANNED_HEADER ${CMAKE_CURRENT_LIST_DIR}/banned.h)

function(lockstep_picky target)
  target_compile_options(${target} PRIVATE ${LOCKSTEP_PICKY_FLAGS}
    -include ${LOCKSTEP_BANNED_HEADER})
endfunction()
