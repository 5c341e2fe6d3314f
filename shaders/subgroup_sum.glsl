// The sum of x over `lanes` lanes of a subgroup (a power of two, the subgroup's first lanes or all
// of it), in every lane with the same bits: a butterfly of subgroupShuffleXor, lane l adding lane
// l ^ o's value for o = lanes/2, .., 1 (a + b == b + a). No shared memory and no barrier: on
// lavapipe a shared-memory load is a loop over the lanes and a barrier a coroutine switch. The
// includer enables GL_KHR_shader_subgroup_shuffle.
#ifndef VKNMT_SUBGROUP_SUM_GLSL
#define VKNMT_SUBGROUP_SUM_GLSL

float subgroup_xor_sum(float x, uint lanes)
{
    for (uint o = lanes / 2u; o > 0u; o >>= 1)
        x += subgroupShuffleXor(x, o);
    return x;
}

#endif
